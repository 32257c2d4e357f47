"""Series queries as the API answers them: windows chosen, output bounded, truncation reported.

Asking for more windows than `limit` never loads them all: the query is cut at `limit` windows and a
cheap count over the rest says whether anything was left out (`truncated`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from ingest.api.ports import SeriesReader
from ingest.api.windows import window_count, window_for
from ingest.errors import PermanentStoreError, QueryError
from ingest.storage.base import Agg, SeriesPoint


@dataclass(frozen=True, slots=True)
class SeriesRequest:
    device: str
    metric: str
    start_ms: int
    end_ms: int
    agg: Agg
    every_ms: int | None = None
    max_points: int | None = None


@dataclass(frozen=True, slots=True)
class Series:
    device: str
    metric: str
    agg: Agg
    every_ms: int
    start_ms: int
    end_ms: int
    points: list[SeriesPoint]
    truncated: bool


NUMERIC_ONLY = frozenset({Agg.MEAN, Agg.SUM})
"""Aggregates that make no sense of booleans (InfluxDB refuses them; SQLite would average 0s and 1s)."""


class BooleanMetrics:
    """Which metric names hold booleans, learned once per name: both stores keep a field's first type."""

    def __init__(self, capacity: int = 10_000):
        self.capacity = capacity
        self._known: dict[str, bool] = {}
        self._lock = threading.Lock()

    def check(self, reader: SeriesReader, request: SeriesRequest, start_ms: int, end_ms: int) -> None:
        """Raises QueryError if the metric is boolean; probes [start_ms, end_ms) the first time only."""
        with self._lock:
            boolean = self._known.get(request.metric)
        if boolean is None:
            # One window's last value shows the type at the cost of reading that window only.
            sample = reader.series(
                request.device, request.metric, start_ms, end_ms, Agg.LAST, end_ms - start_ms
            )
            if not sample:
                return
            boolean = isinstance(sample[0][1], bool)
            with self._lock:
                if len(self._known) >= self.capacity:
                    self._known.clear()
                self._known[request.metric] = boolean
        if boolean:
            raise QueryError(
                f"{request.metric!r} is a boolean metric: use count, last, min or max, not {request.agg}"
            )


def query_series(
    reader: SeriesReader, request: SeriesRequest, limit: int, booleans: BooleanMetrics
) -> Series:
    """Aggregates of one metric over [start_ms, end_ms), at most `limit` points."""
    if request.every_ms is not None and request.max_points is not None:
        raise QueryError("give `every` or `max_points`, not both")
    start, end = request.start_ms, request.end_ms
    every = request.every_ms or window_for(start, end, min(request.max_points or limit, limit))
    query_end = end
    if window_count(start, end, every) > limit:
        query_end = (start // every + limit) * every
    try:
        points = reader.series(request.device, request.metric, start, query_end, request.agg, every)
    except PermanentStoreError:
        # InfluxDB refuses mean and sum of booleans in its own words: answer in ours when that is why.
        if request.agg in NUMERIC_ONLY:
            booleans.check(reader, request, start, query_end)
        raise
    if request.agg in NUMERIC_ONLY and points:
        booleans.check(reader, request, max(points[0][0], start), min(points[0][0] + every, query_end))
    truncated = query_end < end and bool(
        reader.series(request.device, request.metric, query_end, end, Agg.COUNT, end - query_end)
    )
    return Series(request.device, request.metric, request.agg, every, start, query_end, points, truncated)
