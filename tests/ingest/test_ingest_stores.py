"""InfluxDB (real 1.6.7) and SQLite give the same answers to the same queries on the same points."""

from __future__ import annotations

import gc
import gzip
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ingest.errors import PermanentStoreError, QueryError, TransientStoreError
from ingest.points import Point
from ingest.storage.base import Agg, Store
from ingest.storage.influx import InfluxStore
from ingest.storage.influx_http import InfluxHttp
from ingest.storage.sqlite import SqliteStore
from support.influx import InfluxDB

T0 = 1_764_000_000_000
POINTS = [
    Point("dev-1", T0 + i * 250, {"temperature": 20.0 + (i % 7) * 0.5, "door": i % 3 == 0, "seq": i})
    for i in range(40)
] + [Point("dev-2", T0 + i * 1000, {"temperature": -5.0 + i, "humidity": 40.25}) for i in range(5)]


@pytest.fixture
def stores(influxd: InfluxDB, influx_db: str, tmp_path: Path) -> Iterator[tuple[Store, Store]]:
    influx = InfluxStore(InfluxHttp(influxd.url, influx_db))
    sqlite = SqliteStore(tmp_path / "telemetry.sqlite")
    for store in (influx, sqlite):
        store.write(POINTS)
    yield influx, sqlite
    influx.close()
    sqlite.close()


def test_raw_series_are_equal(stores: tuple[Store, Store]) -> None:
    influx, sqlite = stores
    for device, metric in [
        ("dev-1", "temperature"),
        ("dev-1", "door"),
        ("dev-1", "seq"),
        ("dev-2", "humidity"),
    ]:
        answer = influx.series(device, metric, T0, T0 + 60_000)
        assert answer == sqlite.series(device, metric, T0, T0 + 60_000)
        assert answer
    raw = sqlite.series("dev-1", "temperature", T0 + 1000, T0 + 2000)
    assert [ts for ts, _ in raw] == [T0 + 1000, T0 + 1250, T0 + 1500, T0 + 1750]  # end excluded
    assert all(type(v) is float for _, v in raw)
    assert {type(v) for _, v in sqlite.series("dev-1", "door", T0, T0 + 60_000)} == {bool}


@pytest.mark.parametrize("agg", list(Agg))
@pytest.mark.parametrize("every_ms", [1000, 3000, 7000])
def test_aggregates_in_buckets_are_equal(stores: tuple[Store, Store], agg: Agg, every_ms: int) -> None:
    influx, sqlite = stores
    start, end = T0 + 300, T0 + 9_100  # not aligned to the buckets on purpose
    answer = influx.series("dev-1", "temperature", start, end, agg, every_ms)
    assert answer
    expected = sqlite.series("dev-1", "temperature", start, end, agg, every_ms)
    assert [ts for ts, _ in answer] == [ts for ts, _ in expected]
    assert [type(v) for _, v in answer] == [type(v) for _, v in expected]
    assert [v for _, v in answer] == pytest.approx([v for _, v in expected])


def test_latest_values_and_points_are_equal(stores: tuple[Store, Store]) -> None:
    influx, sqlite = stores
    newest = POINTS[39]
    wanted = {"dev-1": sorted(newest.fields), "dev-9": ["temperature"]}
    expected = {"dev-1": {metric: (newest.ts_ms, value) for metric, value in newest.fields.items()}}
    assert influx.latest_values(wanted) == sqlite.latest_values(wanted) == expected
    assert (
        list(influx.points("dev-1", T0, T0 + 60_000))
        == list(sqlite.points("dev-1", T0, T0 + 60_000))
        == POINTS[:40]
    )


def test_a_redelivered_point_overwrites_itself(stores: tuple[Store, Store]) -> None:
    for store in stores:
        store.write(POINTS[:5])
        assert store.series("dev-1", "seq", T0, T0 + 60_000, Agg.COUNT, 60_000) == [(T0 - T0 % 60_000, 40)]


def test_a_field_type_conflict_is_permanent_and_spares_the_rest(stores: tuple[Store, Store]) -> None:
    for store in stores:
        with pytest.raises(PermanentStoreError):
            store.write(
                [Point("dev-3", T0, {"temperature": True}), Point("dev-3", T0 + 1, {"temperature": 1.0})]
            )
        assert store.series("dev-3", "temperature", T0, T0 + 10) == [(T0 + 1, 1.0)]


@pytest.mark.parametrize(
    ("device", "metric", "start", "end", "agg", "every"),
    [
        ("dev-1' OR 1=1 --", "temperature", T0, T0 + 1, None, None),
        ("dev-1", 'temperature" FROM x; DROP DATABASE y; --', T0, T0 + 1, None, None),
        ("dev-1", "temperature", T0 + 1, T0, None, None),
        ("dev-1", "temperature", T0, T0 + 1, Agg.MEAN, None),
        ("dev-1", "temperature", T0, T0 + 1, Agg.MEAN, 0),
        ("dev-1", "temperature", T0, T0 + 1, "mean); DROP", 1000),
        ("dev-1", "temperature", "now()", T0 + 1, None, None),
    ],
)
def test_unchecked_query_parameters_are_refused_by_both(
    stores: tuple[Store, Store],
    device: str,
    metric: str,
    start: int,
    end: int,
    agg: Agg | None,
    every: int | None,
) -> None:
    for store in stores:
        with pytest.raises(QueryError):
            store.series(device, metric, start, end, agg, every)


class CountingTransport(httpx.HTTPTransport):
    def __init__(self) -> None:
        super().__init__()
        self.requests: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request.url.path)
        return super().handle_request(request)


def test_influx_latest_values_of_many_devices_and_metrics_take_one_request(
    influxd: InfluxDB, influx_db: str
) -> None:
    transport = CountingTransport()
    store = InfluxStore(InfluxHttp(influxd.url, influx_db, transport=transport))
    store.write([Point("dev-1", T0 + i, {f"m{i}": float(i), "seq": i}) for i in range(6)])
    store.write([Point("dev-2", T0 + 9, {"m0": 9.5})])
    # 600 metric names of another device are never looked at: the caller names the metrics it wants.
    store.write([Point("noisy", T0, {f"x{i}_{'n' * 60}": 1.0 for i in range(600)})])
    transport.requests.clear()
    wanted = {"dev-1": [f"m{i}" for i in range(6)] + ["seq"], "dev-2": ["m0", "m5"], "dev-3": ["m0"]}
    latest = store.latest_values(wanted)
    assert latest == {
        "dev-1": {**{f"m{i}": (T0 + i, float(i)) for i in range(6)}, "seq": (T0 + 5, 5)},
        "dev-2": {"m0": (T0 + 9, 9.5)},
    }
    assert transport.requests == ["/query"]
    store.close()


def test_influx_query_many_answers_in_order_and_an_error_fails_the_call(
    influxd: InfluxDB, influx_db: str
) -> None:
    http = InfluxHttp(influxd.url, influx_db)
    http.write(b"telemetry,device=dev-1 a=1.5,b=2.5 1764000000000")
    a, b = http.query_many(['SELECT "a" FROM "telemetry"', 'SELECT "b" FROM "telemetry"'])
    assert (a[0]["values"], b[0]["values"]) == ([[1764000000000, 1.5]], [[1764000000000, 2.5]])
    with pytest.raises(PermanentStoreError, match="InfluxQL error"):
        http.query_many(['SELECT "a" FROM "telemetry"', 'SHOW FIELD KEYS ON "no_such_database"'])
    http.close()


def test_both_stores_name_each_devices_metrics(stores: tuple[Store, Store]) -> None:
    influx, sqlite = stores
    expected = {"dev-1": {"temperature", "door", "seq"}, "dev-2": {"temperature", "humidity"}}
    assert influx.metric_names() == sqlite.metric_names() == expected


@pytest.mark.parametrize(
    ("url", "api", "path", "params"),
    [
        ("http://influx.test", "v1", "/write", {"db": "sf", "precision": "ms"}),
        ("http://proxy.test/influx", "v1", "/influx/write", {"db": "sf", "precision": "ms"}),
        ("http://influx.test", "v2", "/api/v2/write", {"bucket": "sf", "precision": "ms", "org": "o"}),
    ],
)
def test_each_influx_write_is_its_own_request(url: str, api: str, path: str, params: dict[str, str]) -> None:
    """Writes share a URL and headers built once; each has its own body, length and the client's timeout."""
    sent: list[httpx.Request] = []
    transport = httpx.MockTransport(lambda request: sent.append(request) or httpx.Response(204))
    http = InfluxHttp(url, "sf", api, token="t0k", org="o", timeout=3.5, transport=transport)  # type: ignore[arg-type]
    bodies = [
        b"telemetry,device=dev-1 v=1.5 1764000000000",
        b"telemetry,device=dev-22 v=10.25,seq=7i 1764000000001",
    ]
    for body in bodies:
        http.write(body)
    http.close()
    for request, body in zip(sent, bodies, strict=True):
        assert (request.method, request.url.path, dict(request.url.params)) == ("POST", path, params)
        assert gzip.decompress(request.content) == body
        assert request.headers["Content-Length"] == str(len(request.content))
        assert request.headers["Content-Encoding"] == "gzip"
        assert request.headers["Authorization"] == "Token t0k"
        assert request.extensions["timeout"] == httpx.Timeout(3.5).as_dict()


def test_an_influx_write_that_gets_no_answer_times_out() -> None:
    """A server that takes the connection and never answers: the write fails after the client's timeout
    (the writer then retries or spools), it does not wait forever."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.listen()
        http = InfluxHttp(f"http://127.0.0.1:{server.getsockname()[1]}", "sf", timeout=0.5)
        started = time.monotonic()
        with pytest.raises(TransientStoreError, match="unreachable"):
            http.write(b"telemetry,device=dev-1 v=1 1764000000000")
        assert time.monotonic() - started < 10
        http.close()


def test_influx_requests_leave_nothing_for_the_garbage_collector() -> None:
    """Writes, queries and pings are freed when done, not at the collector's next pass (which a serving
    process runs rarely): what the collector finds after them is nothing of theirs."""

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/query":
            return httpx.Response(200, json={"results": [{"statement_id": 0, "series": []}]})
        return httpx.Response(204)

    http = InfluxHttp("http://influx.test", "sf", transport=httpx.MockTransport(answer))
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for n in range(5):
            http.write(b"telemetry,device=dev-1 v=1.5 %d" % (T0 + n))
            assert http.query('SELECT "v" FROM "telemetry"') == []
            assert http.ping()
        gc.collect()
        left = {type(o).__module__.split(".")[0] for o in gc.garbage}
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
        http.close()
    assert not left & {"httpx", "httpcore"}
