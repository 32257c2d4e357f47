"""`/api/v1/devices/{id}/series` and `/export.csv`: aggregated series, and every raw point as CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response, StreamingResponse

from ingest.api.auth import AUTH_RESPONSES, ReadToken
from ingest.api.context import ApiContext, api_context
from ingest.api.ports import SeriesReader
from ingest.api.routes.devices import DeviceId
from ingest.api.schemas import SeriesListOut, SeriesOut
from ingest.api.series import Series, SeriesRequest, query_series
from ingest.api.timerange import parse_duration, resolve_range
from ingest.contract import METRIC_NAME
from ingest.errors import QueryError
from ingest.storage.base import Agg

router = APIRouter(
    prefix="/api/v1/devices", tags=["series"], dependencies=[ReadToken], responses=AUTH_RESPONSES
)

Context = Annotated[ApiContext, Depends(api_context)]
Start = Annotated[
    str, Query(max_length=64, description="RFC 3339, `now` or relative (`-24h`)", examples=["-24h"])
]
End = Annotated[
    str, Query(max_length=64, description="RFC 3339, `now` or relative (`-15m`)", examples=["now"])
]
_CSV_CHUNK_ROWS = 2000
JSON = "application/json"


def _metrics(names: list[str]) -> list[str]:
    for name in names:
        if not METRIC_NAME.fullmatch(name):  # fullmatch: `$` would let a trailing newline through
            raise QueryError(f"invalid metric name {name[:80]!r}")
    return list(dict.fromkeys(names))


@router.get(
    "/{device}/series",
    summary="Aggregated series of one or more metrics",
    response_model=SeriesOut | SeriesListOut,
    description=(
        "Windows start at multiples of `every` since the epoch; empty windows are left out. Without `every`, "
        "the shortest round window that gives at most `max_points` points is used (`every_ms` says which). "
        'One `metric` answers one series object; several answer `{"series": [...]}` in the order asked.'
    ),
)
def get_series(
    device: DeviceId,
    context: Context,
    metric: Annotated[list[str], Query(min_length=1, max_length=20, examples=[["temperature"]])],
    start: Start = "-24h",
    end: End = "now",
    agg: Agg = Agg.MEAN,
    every: Annotated[
        str | None, Query(max_length=16, description="window, e.g. `1m`", examples=["1m"])
    ] = None,
    max_points: Annotated[int | None, Query(ge=2, le=100_000, description="most points wanted")] = None,
) -> Response:
    limit = context.settings.max_points
    start_ms, end_ms = resolve_range(start, end, context.now_ms())
    every_ms = None if every is None else parse_duration(every)
    if every_ms is None and max_points is None:
        max_points = context.settings.default_points
    answers = [
        query_series(
            context.reader,
            SeriesRequest(device, name, start_ms, end_ms, agg, every_ms, max_points),
            limit,
            context.booleans,
        )
        for name in _metrics(metric)
    ]
    # Serialized directly: the points are typed already, and validating thousands of them again
    # through the response model would cost as much as the query.
    bodies = [_body(s) for s in answers]
    return Response(orjson.dumps(bodies[0] if len(bodies) == 1 else {"series": bodies}), media_type=JSON)


def _body(s: Series) -> dict[str, object]:
    return {
        "device": s.device,
        "metric": s.metric,
        "agg": s.agg.value,
        "every_ms": s.every_ms,
        "start_ms": s.start_ms,
        "end_ms": s.end_ms,
        "points": s.points,
        "truncated": s.truncated,
    }


def _csv_rows(
    reader: SeriesReader, device: str, start_ms: int, end_ms: int, metrics: set[str]
) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["time", "ts_ms", "metric", "value"])
    rows = 0
    for point in reader.points(device, start_ms, end_ms):
        time = datetime.fromtimestamp(point.ts_ms / 1000, UTC).isoformat(timespec="milliseconds")
        for name, value in point.fields.items():
            if name == "seq" or (metrics and name not in metrics):
                continue
            cell = str(value).lower() if isinstance(value, bool) else value
            writer.writerow([time, point.ts_ms, name, cell])
            rows += 1
        if rows >= _CSV_CHUNK_ROWS:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            rows = 0
    yield buffer.getvalue()


@router.get(
    "/{device}/export.csv",
    summary="Raw readings as CSV, streamed",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {"example": "time,ts_ms,metric,value\n"}}}},
    description="One row per metric value: `time` (RFC 3339, UTC), `ts_ms`, `metric`, `value`, oldest first.",
)
def export_csv(
    device: DeviceId,
    context: Context,
    start: Start = "-24h",
    end: End = "now",
    metric: Annotated[list[str] | None, Query(max_length=20, description="only these metrics")] = None,
) -> StreamingResponse:
    start_ms, end_ms = resolve_range(start, end, context.now_ms())
    wanted = set(_metrics(metric or []))
    return StreamingResponse(
        _csv_rows(context.reader, device, start_ms, end_ms, wanted),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{device}.csv"'},
    )
