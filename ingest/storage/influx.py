"""The InfluxDB store: line protocol writes (413 → split in halves) and InfluxQL queries.

Every value that reaches InfluxQL has been checked by storage.base and is quoted on top of that:
identifiers and strings are built by `_ident`/`_string`, numbers by `int()`; nothing is spliced raw.

Points carry the tag `device` and the device's static tags (`tags_for`, the registry's). Queries filter
on `device` only, so a device's points are found whatever tags they were written with, and select
metrics as `::field`, so a tag named like a metric is never read in its place.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import Any

from ingest.codec.lineprotocol import TagsFor, encode_points, no_tags
from ingest.errors import PayloadError, PermanentStoreError, QueryError, RequestTooLargeError
from ingest.points import FieldValue, Point
from ingest.storage.base import (
    Agg,
    LatestValues,
    SeriesPoint,
    check_device,
    check_range,
    check_series,
    check_wanted,
)
from ingest.storage.influx_http import InfluxHttp

INTEGER_FIELDS = frozenset({"seq", "boot"})
PAGE = 5000


class InfluxStore:
    def __init__(self, http: InfluxHttp, measurement: str = "telemetry", tags_for: TagsFor = no_tags):
        self.http = http
        self.measurement = measurement
        self.tags_for = tags_for

    def write(self, points: Sequence[Point]) -> None:
        if not points:
            return
        try:
            body = encode_points(self.measurement, self.tags_for, points)
        except PayloadError as e:
            raise PermanentStoreError(f"cannot encode: {e}") from e
        try:
            self.http.write(body)
        except RequestTooLargeError:
            if len(points) == 1:
                raise PermanentStoreError("a single point is larger than InfluxDB accepts") from None
            half = len(points) // 2
            self.write(points[:half])
            self.write(points[half:])

    def ping(self) -> bool:
        return self.http.ping()

    def series(
        self,
        device: str,
        metric: str,
        start_ms: int,
        end_ms: int,
        agg: Agg | None = None,
        every_ms: int | None = None,
    ) -> list[SeriesPoint]:
        check_series(device, metric, start_ms, end_ms, agg, every_ms)
        where = self._where(device, start_ms, end_ms)
        if agg is None:
            q = f"SELECT {_field(metric)} FROM {_ident(self.measurement)} {where} ORDER BY time ASC"
        else:
            assert every_ms is not None
            q = (
                f"SELECT {agg.value}({_field(metric)}) FROM {_ident(self.measurement)} {where} "
                f"GROUP BY time({int(every_ms)}ms) fill(none)"
            )
        rows = [row for s in self.http.query(q) for row in s["values"] if row[1] is not None]
        as_int = agg is Agg.COUNT or (metric in INTEGER_FIELDS and agg is not Agg.MEAN)
        return [(int(ts), _value(value, as_int)) for ts, value in rows]

    def latest_values(self, wanted: Mapping[str, Collection[str]]) -> LatestValues:
        """One request: a `last()` statement per field, grouped by device, over the devices that use it.

        Devices are picked with one regular expression of their ids: InfluxDB 1.x evaluates a long
        `"device" = 'a' OR "device" = 'b' ...` condition in time that grows faster than the list (for a
        page of 500 devices, 150 ms a statement against 45 ms)."""
        check_wanted(wanted)
        devices_of: dict[str, list[str]] = {}
        for device, metrics in wanted.items():
            for metric in metrics:
                devices_of.setdefault(metric, []).append(device)
        fields = sorted(devices_of)
        # One selector per statement (with several, InfluxQL drops their timestamps), grouped by device,
        # all statements in one request.
        statements = [
            f"SELECT last({_field(field)}) FROM {_ident(self.measurement)} "
            f'WHERE {_devices(devices_of[field])} GROUP BY "device"'
            for field in fields
        ]
        out: LatestValues = {}
        for field, series in zip(fields, self.http.query_many(statements), strict=True):
            for s in series:
                device = s.get("tags", {}).get("device")
                for ts, value in s["values"]:
                    if device in wanted and value is not None:
                        out.setdefault(device, {})[field] = (int(ts), _value(value, field in INTEGER_FIELDS))
        return out

    def metric_names(self) -> dict[str, set[str]]:
        # With a wildcard, `last` answers a column `last_<field>` per field, null where the device has none.
        series = self.http.query(f'SELECT last(*) FROM {_ident(self.measurement)} GROUP BY "device"')
        names: dict[str, set[str]] = {}
        for s in series:
            device = s.get("tags", {}).get("device")
            for row in s["values"]:
                for column, value in zip(s["columns"][1:], row[1:], strict=True):
                    if device and value is not None and column.startswith("last_"):
                        names.setdefault(device, set()).add(column.removeprefix("last_"))
        return names

    def points(self, device: str, start_ms: int, end_ms: int) -> Iterator[Point]:
        check_device(device)
        check_range(start_ms, end_ms)
        while start_ms < end_ms:
            q = (
                f"SELECT *::field FROM {_ident(self.measurement)} {self._where(device, start_ms, end_ms)} "
                f"ORDER BY time ASC LIMIT {PAGE}"
            )
            page = self._points(device, self.http.query(q))
            yield from page
            if len(page) < PAGE:
                return
            start_ms = page[-1].ts_ms + 1

    def close(self) -> None:
        self.http.close()

    def _where(self, device: str, start_ms: int, end_ms: int) -> str:
        return f'WHERE "device" = {_string(device)} AND time >= {int(start_ms)}ms AND time < {int(end_ms)}ms'

    @staticmethod
    def _points(device: str, series: list[dict[str, Any]]) -> list[Point]:
        out = []
        for s in series:
            columns = s["columns"]
            for row in s["values"]:
                fields = {
                    c: _value(v, c in INTEGER_FIELDS)
                    for c, v in zip(columns[1:], row[1:], strict=True)
                    if v is not None
                }
                out.append(Point(device, int(row[0]), fields))
        return out


def _value(value: Any, as_int: bool) -> FieldValue:
    # JSON gives 21.0 back as 21; metrics are floats unless they are counters.
    if isinstance(value, bool):
        return value
    return int(value) if as_int else float(value)


def _ident(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _field(name: str) -> str:
    return _ident(name) + "::field"


def _devices(devices: Collection[str]) -> str:
    """`"device" =~ /^(id|id|...)$/`, each id a literal: every character but a letter or a digit escaped
    (device ids are checked against the contract before, which allows only `[a-z0-9_-]`)."""
    ids = sorted(devices)
    if not all(d.isascii() for d in ids):
        raise QueryError("device ids are ASCII")
    literal = "|".join("".join(c if c.isalnum() else "\\" + c for c in d) for d in ids)
    return f'"device" =~ /^({literal})$/'


def _string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
