"""The interface every time-series store implements, and the query parameters it accepts.

Query semantics (both stores, tested by the same tests):
- `series` without `agg` returns raw points `[ts_ms, value]` in time order within [start_ms, end_ms).
- `series` with `agg` needs `every_ms`; buckets start at multiples of `every_ms` since the epoch, each
  point is `[bucket_start_ms, aggregate]`, empty buckets are left out.
- `latest(device)` is the newest point of the device with all of its fields.
- `latest_values({device: metrics})` is the newest (ts_ms, value) of each of those metrics of each of those
  devices, in one request whatever the fleet holds: callers name the metrics (the registry knows each
  device's), so the cost never grows with the metric names or devices of the whole fleet.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from enum import StrEnum
from typing import Protocol

from ingest.contract import DEVICE_ID, METRIC_NAME
from ingest.errors import QueryError
from ingest.points import FieldValue, Point

MAX_RANGE_MS = 100 * 365 * 24 * 3600 * 1000


class Agg(StrEnum):
    MEAN = "mean"
    MIN = "min"
    MAX = "max"
    SUM = "sum"
    COUNT = "count"
    LAST = "last"


SeriesPoint = tuple[int, FieldValue]
LatestValues = dict[str, dict[str, tuple[int, FieldValue]]]
"""device → metric → (ts_ms, value), for those that have a value."""


class Store(Protocol):
    def write(self, points: Sequence[Point]) -> None:
        """Stores all points or raises: TransientStoreError (retry later), PermanentStoreError
        (some points can never be stored; the others may have been), RequestTooLargeError."""

    def ping(self) -> bool: ...

    def series(
        self,
        device: str,
        metric: str,
        start_ms: int,
        end_ms: int,
        agg: Agg | None = None,
        every_ms: int | None = None,
    ) -> list[SeriesPoint]: ...

    def latest_values(self, wanted: Mapping[str, Collection[str]]) -> LatestValues: ...

    def metric_names(self) -> dict[str, set[str]]:
        """Every device's metric names as stored: a scan of the whole store, for a one-time upgrade."""
        ...

    def points(self, device: str, start_ms: int, end_ms: int) -> Iterator[Point]: ...

    def close(self) -> None: ...


def check_device(device: str) -> str:
    if not DEVICE_ID.fullmatch(device):
        raise QueryError(f"invalid device id {device[:80]!r}")
    return device


def check_wanted(wanted: Mapping[str, Collection[str]]) -> None:
    for device, metrics in wanted.items():
        check_device(device)
        for metric in metrics:
            check_metric(metric)


def check_metric(metric: str) -> None:
    if not METRIC_NAME.fullmatch(metric):
        raise QueryError(f"invalid metric name {metric[:80]!r}")


def check_series(
    device: str, metric: str, start_ms: int, end_ms: int, agg: Agg | None, every_ms: int | None
) -> None:
    """Everything a query is built from is checked here, so no store ever sees an unchecked value."""
    check_device(device)
    check_metric(metric)
    check_range(start_ms, end_ms)
    if agg is not None and not isinstance(agg, Agg):
        raise QueryError(f"unknown aggregate {agg!r}")
    if (agg is None) != (every_ms is None):
        raise QueryError("an aggregate needs `every_ms`, and `every_ms` needs an aggregate")
    if every_ms is not None and (type(every_ms) is not int or every_ms <= 0):
        raise QueryError("`every_ms` must be a positive integer")


def check_range(start_ms: int, end_ms: int) -> None:
    if type(start_ms) is not int or type(end_ms) is not int:
        raise QueryError("start and end are integer epoch milliseconds")
    if not 0 <= start_ms < end_ms or end_ms - start_ms > MAX_RANGE_MS:
        raise QueryError("the range must satisfy 0 <= start < end and span at most 100 years")
