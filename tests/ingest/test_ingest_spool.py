"""The spool: fsync'd before append returns, replayed in order, survives reopen and torn writes, bounded."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ingest.errors import SpoolFullError
from ingest.points import Point
from ingest.service import IngestService
from ingest.settings import load_settings
from ingest.storage import spool as spool_module
from ingest.storage.spool import Spool


def batch(n: int, size: int = 3) -> list[Point]:
    return [Point(f"dev-{n}", n * 100 + i, {"v": float(i), "seq": i, "ok": True}) for i in range(size)]


def test_append_is_fsynced_before_it_returns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spool = Spool(tmp_path, 1 << 20)
    synced: list[int] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.fstat(fd).st_size)
        real_fsync(fd)

    monkeypatch.setattr(spool_module.os, "fsync", fsync)
    spool.append(batch(1))
    assert synced and synced[0] == spool.depth_bytes()


def test_batches_replay_in_order_and_survive_reopening(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 1 << 20, segment_bytes=200)  # small segments: several files
    for n in range(10):
        spool.append(batch(n))
    assert len(list(tmp_path.glob("*.seg"))) > 1
    replayed = []
    for _ in range(4):
        points = spool.peek()
        assert points is not None
        replayed.append(points)
        spool.pop()

    reopened = Spool(tmp_path, 1 << 20, segment_bytes=200)
    assert reopened.batches == 6
    while (points := reopened.peek()) is not None:
        replayed.append(points)
        reopened.pop()
    assert replayed == [batch(n) for n in range(10)]
    assert reopened.batches == 0 and reopened.depth_bytes() == 0
    assert len(list(tmp_path.glob("*.seg"))) == 1  # finished segments are deleted


def test_a_torn_last_record_is_cut_off(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 1 << 20)
    spool.append(batch(1))
    spool.append(batch(2))
    [segment] = tmp_path.glob("*.seg")
    with open(segment, "r+b") as f:
        f.truncate(segment.stat().st_size - 5)  # a crash in the middle of the second append
    reopened = Spool(tmp_path, 1 << 20)
    assert reopened.batches == 1
    assert reopened.peek() == batch(1)
    reopened.append(batch(3))
    reopened.pop()
    assert reopened.peek() == batch(3)


def _replay_all(spool: Spool) -> list[list[Point]]:
    replayed = []
    while (points := spool.peek()) is not None:
        replayed.append(points)
        spool.pop()
    return replayed


def _damage(segment: Path, offset: int, data: bytes) -> None:
    with open(segment, "r+b") as f:
        f.seek(offset)
        f.write(data)


@pytest.mark.parametrize("reopen", [False, True])
def test_a_damaged_record_is_set_aside_and_the_ones_behind_it_replay(tmp_path: Path, reopen: bool) -> None:
    spool = Spool(tmp_path, 1 << 20)
    for n in range(1, 5):
        spool.append(batch(n))
    [segment] = tmp_path.glob("*.seg")
    record = (segment.stat().st_size) // 4
    original = segment.read_bytes()[record : 2 * record]
    _damage(segment, record + 20, b"#")  # inside the second record's data: its CRC no longer matches
    if reopen:
        spool = Spool(tmp_path, 1 << 20)  # the damage is not a torn tail: nothing is cut off
    assert _replay_all(spool) == [batch(1), batch(3), batch(4)]
    assert spool.corrupt_records == 1 and spool.batches == 0
    [aside] = (tmp_path / "corrupt").iterdir()
    damaged = aside.read_bytes()
    assert len(damaged) == record and damaged != original and damaged[:20] == original[:20]
    spool.append(batch(5))
    assert _replay_all(spool) == [batch(5)]


def test_a_damaged_length_sets_aside_only_up_to_the_next_intact_record(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 1 << 20)
    for n in range(1, 4):
        spool.append(batch(n))
    [segment] = tmp_path.glob("*.seg")
    record = segment.stat().st_size // 3
    _damage(segment, record, b"\xff\xff\x00\x00")  # the second record claims 65,535 bytes
    assert _replay_all(Spool(tmp_path, 1 << 20)) == [batch(1), batch(3)]
    [aside] = (tmp_path / "corrupt").iterdir()
    assert aside.stat().st_size == record


def test_full_spool_refuses_appends_until_replay_makes_room(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 1024)
    appended = 0
    with pytest.raises(SpoolFullError):
        for n in range(100):
            spool.append(batch(n))
            appended += 1
    assert 0 < appended < 100 and spool.batches == appended
    assert spool.depth_bytes() <= 1024
    spool.pop()
    spool.append(batch(999))
    assert spool.batches == appended


def test_the_service_counts_damaged_records_in_its_metrics(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", 1 << 20)
    spool.append(batch(1))
    spool.append(batch(2))
    [segment] = (tmp_path / "spool").glob("*.seg")
    _damage(segment, 20, b"#")
    service = IngestService(load_settings(data_dir=tmp_path))
    assert service.spool.peek() == batch(2)
    assert "sensorfleet_spool_corrupt_records 1.0" in service.metrics.render()
