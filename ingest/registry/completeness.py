"""Completeness: which sequence numbers of each boot have arrived (table `seq_ranges`, as merged inclusive
ranges), so the registry can say what a device sent, what came twice and what never came."""

from __future__ import annotations

import bisect
import sqlite3
from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass

from ingest.codec.payload import Telemetry

BOOTS_KEPT = 8
"""Per device; the ranges of older boots are deleted as new boots arrive."""


class SeqRanges:
    def __init__(self, ranges: list[tuple[int, int]] | None = None):
        self.ranges: list[tuple[int, int]] = sorted(ranges or [])

    def add(self, lo: int, hi: int) -> int:
        """Records seqs lo..hi (inclusive); returns how many of them had arrived before."""
        duplicates = 0
        i = bisect.bisect_left(self.ranges, (lo, lo))
        if i > 0 and self.ranges[i - 1][1] >= lo - 1:
            i -= 1
        new_lo, new_hi, j = lo, hi, i
        while j < len(self.ranges) and self.ranges[j][0] <= hi + 1:
            a, b = self.ranges[j]
            duplicates += max(0, min(b, hi) - max(a, lo) + 1)
            new_lo, new_hi = min(new_lo, a), max(new_hi, b)
            j += 1
        self.ranges[i:j] = [(new_lo, new_hi)]
        return duplicates

    def received(self) -> int:
        return sum(b - a + 1 for a, b in self.ranges)

    def missing(self) -> list[tuple[int, int]]:
        """Gaps between the first and the last seq that arrived (inclusive ranges)."""
        return [(b + 1, c - 1) for (_, b), (c, _) in zip(self.ranges, self.ranges[1:], strict=False)]


@dataclass(frozen=True)
class BootCompleteness:
    boot: int
    received: int
    missing: list[tuple[int, int]]


@dataclass(slots=True)
class DeviceCounts:
    """What a batch adds to its device's row: readings (duplicates included), duplicates, last heard."""

    received: int = 0
    duplicates: int = 0
    last_seen_ms: int = 0


@dataclass(frozen=True)
class Tally:
    """A batch counted against the ranges kept, before anything is written."""

    devices: dict[str, DeviceCounts]
    ranges: dict[tuple[str, int], SeqRanges]
    """Copies of the ranges of the boots the batch touched, its seqs added."""
    forgotten: list[tuple[str, int]]
    """Boots of the batch's devices beyond the newest BOOTS_KEPT."""
    duplicates: int


class Completeness:
    """The ranges of every kept boot, in memory and in `seq_ranges`; the caller holds the registry's lock,
    opens the transaction `write` runs in and calls `keep` once it is committed."""

    SCHEMA = """
    CREATE TABLE IF NOT EXISTS seq_ranges (
        device TEXT NOT NULL, boot INTEGER NOT NULL, lo INTEGER NOT NULL, hi INTEGER NOT NULL,
        PRIMARY KEY (device, boot, lo)
    );
    """

    def __init__(self, db: sqlite3.Connection):
        self._db = db
        self._ranges: dict[tuple[str, int], SeqRanges] = {}
        for device, boot, lo, hi in db.execute("SELECT device, boot, lo, hi FROM seq_ranges ORDER BY lo"):
            self._ranges.setdefault((device, boot), SeqRanges()).ranges.append((lo, hi))

    def tally(self, messages: Iterable[tuple[Telemetry, int]]) -> Tally:
        """Counts telemetry (message, received_ms) on copies: until `keep`, the ranges are as they were,
        so a batch whose write failed may be counted again without counting it twice."""
        devices: dict[str, DeviceCounts] = {}
        ranges: dict[tuple[str, int], SeqRanges] = {}
        total_duplicates = 0
        for t, received_ms in messages:
            counts = devices.setdefault(t.device, DeviceCounts())
            counts.received += len(t.points)
            counts.last_seen_ms = max(counts.last_seen_ms, received_ms)
            if t.boot is not None and t.seq is not None:
                key = (t.device, t.boot)
                if key not in ranges:
                    ranges[key] = SeqRanges(list(self._ranges.get(key, SeqRanges()).ranges))
                duplicates = ranges[key].add(t.seq, t.seq + len(t.points) - 1)
                counts.duplicates += duplicates
                total_duplicates += duplicates
        forgotten = _old_boots({**self._ranges, **ranges}, {d for d, _ in ranges})
        return Tally(devices, ranges, forgotten, total_duplicates)

    def write(self, tally: Tally) -> None:
        self._db.executemany("DELETE FROM seq_ranges WHERE device = ? AND boot = ?", list(tally.ranges))
        self._db.executemany(
            "INSERT INTO seq_ranges VALUES (?, ?, ?, ?)",
            [(d, b, lo, hi) for (d, b), r in tally.ranges.items() for lo, hi in r.ranges],
        )
        self._db.executemany("DELETE FROM seq_ranges WHERE device = ? AND boot = ?", tally.forgotten)

    def keep(self, tally: Tally) -> None:
        """After `write` committed."""
        self._ranges.update(tally.ranges)
        for key in tally.forgotten:
            del self._ranges[key]

    def boots(self, devices: Container[str]) -> dict[str, list[BootCompleteness]]:
        """The kept boots of each of `devices` that has any, oldest first."""
        found: dict[str, list[BootCompleteness]] = {}
        wanted = [(key, r) for key, r in self._ranges.items() if key[0] in devices]
        for (device, boot), r in sorted(wanted, key=lambda kr: kr[0]):
            found.setdefault(device, []).append(BootCompleteness(boot, r.received(), r.missing()))
        return found


def _old_boots(ranges: Mapping[tuple[str, int], SeqRanges], devices: set[str]) -> list[tuple[str, int]]:
    """The boots of `devices` beyond the newest BOOTS_KEPT."""
    forgotten = []
    for device in devices:
        boots = sorted(b for d, b in ranges if d == device)
        forgotten += [(device, boot) for boot in boots[:-BOOTS_KEPT]]
    return forgotten
