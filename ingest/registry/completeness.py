"""Completeness: which sequence numbers of each boot have arrived (table `seq_ranges`, as merged inclusive
ranges), so the registry can say what a device sent, what came twice and what never came."""

from __future__ import annotations

import bisect
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, delete, insert, select

from ingest.codec.payload import Telemetry
from ingest.state.schema import seq_ranges

BOOTS_KEPT = 8
"""Per device; the ranges of older boots are deleted as new boots arrive."""
RANGES_KEPT = 100
"""Per boot. A boot with more gaps (a board that skips numbers, broken or crafted to) keeps its newest
ranges: every write that counts the boot reads and rewrites them, so their number is its cost."""


class SeqRanges:
    def __init__(self, ranges: list[tuple[int, int]] | None = None):
        self.ranges: list[tuple[int, int]] = sorted(ranges or [])

    def add(self, lo: int, hi: int) -> int:
        """Records seqs lo..hi (inclusive); returns how many of them had arrived before. Beyond
        `RANGES_KEPT` ranges the oldest are forgotten: their readings are no longer counted for the
        boot, and a seq in them that comes again is not known as a duplicate."""
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
        del self.ranges[:-RANGES_KEPT]
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
    """The ranges of the boots the batch touched, its seqs added."""
    forgotten: list[tuple[str, int]]
    """Boots of the batch's devices beyond the newest BOOTS_KEPT."""
    duplicates: int


class Completeness:
    """The ranges of every kept boot, in `seq_ranges`, read in the transaction that adds to them (the
    devices' rows locked first by `Presence.lock`), so that processes counting the same device one
    after the other each see what the other committed."""

    @staticmethod
    def tally(db: Connection, messages: Iterable[tuple[Telemetry, int]]) -> Tally:
        """Counts telemetry (message, received_ms) against the ranges stored; nothing is written."""
        batch = list(messages)
        stored = _ranges(db, {t.device for t, _ in batch if t.boot is not None and t.seq is not None})
        devices: dict[str, DeviceCounts] = {}
        ranges: dict[tuple[str, int], SeqRanges] = {}
        total_duplicates = 0
        for t, received_ms in batch:
            counts = devices.setdefault(t.device, DeviceCounts())
            counts.received += len(t.points)
            counts.last_seen_ms = max(counts.last_seen_ms, received_ms)
            if t.boot is not None and t.seq is not None:
                key = (t.device, t.boot)
                if key not in ranges:
                    ranges[key] = stored.get(key, SeqRanges())
                duplicates = ranges[key].add(t.seq, t.seq + len(t.points) - 1)
                counts.duplicates += duplicates
                total_duplicates += duplicates
        forgotten = _old_boots({**stored, **ranges}, {d for d, _ in ranges})
        return Tally(devices, ranges, forgotten, total_duplicates)

    @staticmethod
    def write(db: Connection, tally: Tally) -> None:
        replaced = [{"d": device, "b": boot} for device, boot in [*tally.ranges, *tally.forgotten]]
        if replaced:
            db.execute(_DELETE_BOOT, replaced)
        rows = [
            {"device": d, "boot": b, "lo": lo, "hi": hi}
            for (d, b), r in tally.ranges.items()
            if (d, b) not in tally.forgotten
            for lo, hi in r.ranges
        ]
        if rows:
            db.execute(_INSERT_RANGE, rows)

    @staticmethod
    def boots(db: Connection, devices: Collection[str]) -> dict[str, list[BootCompleteness]]:
        """The kept boots of each of `devices` that has any, oldest first.

        Read `_IN_LIST_MOST` devices at a time, each an indexed look-up: a page of the device list
        costs what its own devices hold, never a read of the whole table."""
        wanted = sorted(set(devices))
        ranges: dict[tuple[str, int], SeqRanges] = {}
        for i in range(0, len(wanted), _IN_LIST_MOST):
            ranges.update(_ranges(db, wanted[i : i + _IN_LIST_MOST]))
        found: dict[str, list[BootCompleteness]] = {}
        for (device, boot), r in sorted(ranges.items()):
            found.setdefault(device, []).append(BootCompleteness(boot, r.received(), r.missing()))
        return found


_IN_LIST_MOST = 500
"""Beyond this many devices, their ranges are picked from a read of the whole table."""


_c = seq_ranges.c
_DELETE_BOOT = delete(seq_ranges).where(_c.device == bindparam("d"), _c.boot == bindparam("b"))
_INSERT_RANGE = insert(seq_ranges)
_ALL_RANGES = select(_c.device, _c.boot, _c.lo, _c.hi).order_by(_c.device, _c.boot, _c.lo)
_RANGES_OF = _ALL_RANGES.where(_c.device.in_(bindparam("devices", expanding=True)))
"""Built once: the writer runs these for every batch."""


def _ranges(db: Connection, devices: Collection[str]) -> dict[tuple[str, int], SeqRanges]:
    wanted = set(devices)
    if not wanted:
        return {}
    if len(wanted) <= _IN_LIST_MOST:
        rows = db.execute(_RANGES_OF, {"devices": sorted(wanted)})
    else:
        rows = db.execute(_ALL_RANGES)
    found: dict[tuple[str, int], SeqRanges] = {}
    for device, boot, lo, hi in rows:
        if device in wanted:
            found.setdefault((device, boot), SeqRanges()).ranges.append((lo, hi))
    return found


def _old_boots(ranges: Mapping[tuple[str, int], SeqRanges], devices: set[str]) -> list[tuple[str, int]]:
    """The boots of `devices` beyond the newest BOOTS_KEPT."""
    forgotten = []
    for device in devices:
        boots = sorted(b for d, b in ranges if d == device)
        forgotten += [(device, boot) for boot in boots[:-BOOTS_KEPT]]
    return forgotten
