"""Aggregation windows: how many a range spans, and the window that keeps a chart under `max_points`.

Windows start at multiples of their length since the epoch (as InfluxQL's `GROUP BY time()` does), so a
range that does not start on a boundary touches one window more than its length suggests.
"""

from __future__ import annotations

_SECOND, _MINUTE, _HOUR, _DAY = 1000, 60_000, 3_600_000, 86_400_000
NICE_WINDOWS_MS = (
    *(1, 2, 5, 10, 20, 50, 100, 200, 500),
    *(s * _SECOND for s in (1, 2, 5, 10, 15, 30)),
    *(m * _MINUTE for m in (1, 2, 5, 10, 15, 30)),
    *(h * _HOUR for h in (1, 2, 3, 6, 12)),
    *(d * _DAY for d in (1, 2, 7, 14, 30)),
)
"""Window lengths a person reads at a glance; longer ranges use whole multiples of 30 days."""


def window_count(start_ms: int, end_ms: int, every_ms: int) -> int:
    """Windows of `every_ms` that [start_ms, end_ms) touches."""
    return (end_ms - 1) // every_ms - start_ms // every_ms + 1


def window_for(start_ms: int, end_ms: int, max_points: int) -> int:
    """The shortest nice window for which [start_ms, end_ms) touches at most `max_points` (≥ 2) windows."""
    if max_points < 2:
        raise ValueError("max_points must be at least 2: any range may straddle a window boundary")
    for every in NICE_WINDOWS_MS:
        if window_count(start_ms, end_ms, every) <= max_points:
            return every
    # Past the table: a multiple of 30 days at least span/(max_points-1) long, which always fits.
    month = NICE_WINDOWS_MS[-1]
    return -(-(end_ms - start_ms) // (month * (max_points - 1))) * month
