"""The spool: fsync'd before append returns, replayed in order, survives reopen and torn writes, bounded."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ingest.errors import SpoolFullError
from ingest.points import Point
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
