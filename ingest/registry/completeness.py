"""Which sequence numbers of one boot have arrived, as merged inclusive ranges."""

from __future__ import annotations

import bisect


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
