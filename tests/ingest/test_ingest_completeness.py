"""Completeness per device and boot: received, duplicates and missing ranges from (boot, seq)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from unittest.mock import patch

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from ingest.codec.payload import Status, Telemetry
from ingest.points import Point
from ingest.registry import Registry, completeness
from ingest.registry.completeness import RANGES_KEPT, SeqRanges
from ingest.state.database import STATE_FILE
from ingest.state.migrate import open_state
from ingest.state.schema import seq_ranges


def test_ranges_merge_count_duplicates_and_name_gaps() -> None:
    r = SeqRanges()
    assert r.add(0, 9) == 0
    assert r.add(20, 29) == 0
    assert r.missing() == [(10, 19)]
    assert r.add(5, 14) == 5
    assert r.add(15, 15) == 0
    assert r.ranges == [(0, 15), (20, 29)]
    assert r.missing() == [(16, 19)]
    assert r.add(16, 19) == 0
    assert (r.ranges, r.missing(), r.received()) == ([(0, 29)], [], 30)
    assert r.add(0, 29) == 30


def runs(seqs: set[int]) -> list[tuple[int, int]]:
    """The maximal runs of consecutive numbers in `seqs`, in order."""
    found: list[tuple[int, int]] = []
    for n in sorted(seqs):
        if found and found[-1][1] == n - 1:
            found[-1] = (found[-1][0], n)
        else:
            found.append((n, n))
    return found


@given(st.lists(st.tuples(st.integers(0, 60), st.integers(0, 3)), max_size=60))
def test_ranges_are_the_runs_of_what_arrived_and_at_most_the_newest_kept(adds: list[tuple[int, int]]) -> None:
    """Against a set of every seq received: while a boot has had at most `RANGES_KEPT` runs, its ranges
    are exactly those runs and every duplicate is counted; once it has had more, only newer ones are."""
    kept = 4
    with patch.object(completeness, "RANGES_KEPT", kept):
        r, received = SeqRanges(), set[int]()
        exact = True
        for lo, length in adds:
            seqs = set(range(lo, lo + length + 1))
            duplicates = r.add(lo, lo + length)
            if exact:
                assert duplicates == len(seqs & received)
            received |= seqs
            exact = exact and len(runs(received)) <= kept
            if exact:
                assert r.ranges == runs(received)
            else:  # never more than kept, never a seq that did not arrive, always the newest one
                assert len(r.ranges) <= kept
                assert all(b + 1 < c for (_, b), (c, _) in zip(r.ranges, r.ranges[1:], strict=False))
                assert all(set(range(a, b + 1)) <= received for a, b in r.ranges)
                assert r.ranges[-1][1] == max(received)


def test_a_boot_keeps_its_newest_ranges() -> None:
    r = SeqRanges()
    for n in range(3 * RANGES_KEPT):
        r.add(2 * n, 2 * n)  # every other seq: a gap after each
    assert len(r.ranges) == RANGES_KEPT
    assert r.ranges[0] == (4 * RANGES_KEPT, 4 * RANGES_KEPT)
    assert (r.received(), len(r.missing())) == (RANGES_KEPT, RANGES_KEPT - 1)
    assert r.add(r.ranges[-1][0], r.ranges[-1][0]) == 1  # a newest seq again: a duplicate
    assert r.add(0, 0) == 0  # a forgotten one is not known any more, and is forgotten again
    assert len(r.ranges) == RANGES_KEPT


def batch(device: str, boot: int, seq: int, n: int) -> Telemetry:
    points = tuple(Point(device, 1000 + seq + i, {"v": 1.0, "seq": seq + i}) for i in range(n))
    return Telemetry(device, points, boot, seq)


def test_registry_counts_per_boot_and_survives_reopen(state_url: str, tmp_path: Path) -> None:
    registry = Registry(open_state(tmp_path, state_url))
    assert registry.record([(batch("dev-1", 1, 0, 10), 5), (batch("dev-1", 1, 15, 5), 6)]) == 0
    assert registry.record([(batch("dev-1", 1, 5, 5), 7), (batch("dev-1", 2, 0, 3), 8)]) == 5
    registry.set_status("dev-1", Status(True, "1.0", 2, -70.0, {"outbox": 0}), 9)
    registry.set_status("dev-1", Status(True, "1.0", 2, -70.0, {"outbox": 0}), 99, retained=True)

    info = Registry(open_state(tmp_path, state_url)).device("dev-1")
    assert info is not None
    assert (info.received, info.duplicates, info.missing) == (23, 5, 5)
    assert [(b.boot, b.received, b.missing) for b in info.boots] == [(1, 15, [(10, 14)]), (2, 3, [])]
    assert (info.online, info.fw, info.rssi, info.last_seen_ms) == (True, "1.0", -70.0, 9)
    assert info.status == {"online": True, "fw": "1.0", "boot": 2, "rssi": -70.0, "outbox": 0}


def test_strict_mode_accepts_only_devices_the_registry_knows(state_url: str, tmp_path: Path) -> None:
    assert not Registry(open_state(tmp_path, state_url), strict=True).accepts("dev-1")
    Registry(open_state(tmp_path, state_url)).record([(batch("dev-1", 1, 0, 1), 1)])
    strict = Registry(open_state(tmp_path, state_url), strict=True)
    assert strict.accepts("dev-1") and not strict.accepts("dev-2")


def test_a_batch_whose_registry_write_fails_is_counted_once_when_applied_again(tmp_path: Path) -> None:
    registry = Registry(open_state(tmp_path))
    registry.record([(batch("dev-1", 1, 0, 10), 5)])
    with sqlite3.connect(tmp_path / STATE_FILE) as other:
        other.execute(
            "CREATE TRIGGER full BEFORE INSERT ON device_metrics BEGIN SELECT RAISE(ABORT, 'full'); END"
        )
    retry = [(batch("dev-1", 1, 10, 5), 6), (batch("dev-2", 1, 0, 5), 6)]
    with pytest.raises(IntegrityError):
        registry.record(retry)
    with sqlite3.connect(tmp_path / STATE_FILE) as other:
        other.execute("DROP TRIGGER full")
    assert registry.device("dev-2") is None
    assert registry.record(retry) == 0
    info = registry.device("dev-1")
    assert info is not None
    assert (info.received, info.duplicates, [(b.boot, b.received) for b in info.boots]) == (15, 0, [(1, 15)])
    reopened = Registry(open_state(tmp_path)).device("dev-2")
    assert reopened is not None and (reopened.received, reopened.metrics) == (5, ("seq", "v"))


def test_two_processes_counting_one_device_at_once_neither_lose_nor_double_a_reading(
    state_url: str, tmp_path: Path
) -> None:
    """Two registries on their own connections to one database, as two ingest processes, count
    overlapping batches of one boot in lockstep: every batch starts while the other's may be open."""
    states = [open_state(tmp_path / "data", state_url) for _ in range(2)]
    registries = [Registry(s) for s in states]
    start = threading.Barrier(2)
    duplicates = [0, 0]

    def count(worker: int, first_seq: int) -> None:
        for seq in range(first_seq, first_seq + 100, 10):
            start.wait()
            duplicates[worker] += registries[worker].record([(batch("dev-1", 1, seq, 10), seq)])

    workers = [threading.Thread(target=count, args=(i, 50 * i)) for i in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    info = registries[0].device("dev-1")
    assert info is not None
    assert (info.received, info.duplicates, sum(duplicates)) == (200, 50, 50)
    assert [(b.boot, b.received, b.missing) for b in info.boots] == [(1, 150, [])]
    for s in states:
        s.close()


def test_a_board_that_skips_every_other_seq_keeps_a_bounded_number_of_rows(
    state_url: str, tmp_path: Path
) -> None:
    """Every write that counts a boot reads and rewrites its ranges: a board numbering its readings with
    a gap after each (3 × `RANGES_KEPT` of them) leaves at most `RANGES_KEPT` rows, and a device beside
    it is counted exactly."""
    db = open_state(tmp_path, state_url)
    registry = Registry(db)
    for start in range(0, 3 * RANGES_KEPT, 50):
        registry.record(
            [(batch("skipper", 1, 2 * n, 1), n) for n in range(start, start + 50)]
            + [(batch("steady", 1, n, 1), n) for n in range(start, start + 50)]
        )
    with db.read() as c:
        rows = c.scalar(select(func.count()).select_from(seq_ranges).where(seq_ranges.c.device == "skipper"))
    assert rows == RANGES_KEPT
    skipper, steady = registry.device("skipper"), registry.device("steady")
    assert skipper is not None and steady is not None
    assert (skipper.received, skipper.boots[0].received, len(skipper.boots[0].missing)) == (
        3 * RANGES_KEPT,
        RANGES_KEPT,
        RANGES_KEPT - 1,
    )
    assert [(b.boot, b.received, b.missing) for b in steady.boots] == [(1, 3 * RANGES_KEPT, [])]
    db.close()
