"""Series through the HTTP API equal a Python computation over the raw points, on both stores, and an
independent InfluxQL query on InfluxDB."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
from api.helpers import NOW_MS, Raw, aggregate, iso
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.points import Point
from ingest.storage.base import Store
from ingest.storage.influx import InfluxStore
from support.influx import InfluxDB

AGGS = ["mean", "min", "max", "sum", "count", "last"]
MINUTE = 60_000
T0 = NOW_MS - 6 * 3600_000  # six hours of data before "now"


def write_random(store: Store, device: str = "dev-1", n: int = 2000, seed: int = 7) -> tuple[Raw, Raw]:
    """Irregularly spaced readings of `temperature` and `humidity` through the store's write path."""
    rng = random.Random(seed)
    ts, temperature, humidity = T0, [], []
    points = []
    for _ in range(n):
        ts += rng.randint(1, 20_000)
        t, h = round(rng.uniform(-20, 40), 3), round(rng.uniform(0, 100), 3)
        temperature.append((ts, t))
        humidity.append((ts, h))
        points.append(Point(device, ts, {"temperature": t, "humidity": h}))
    store.write(points)
    return temperature, humidity


def assert_same(got: list[list[float]], expected: list[list[float]]) -> None:
    assert [p[0] for p in got] == [p[0] for p in expected]
    assert [p[1] for p in got] == pytest.approx([p[1] for p in expected], rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("agg", AGGS)
def test_every_aggregate_equals_python_over_raw_points(
    store: Store, make_api: Callable[..., TestClient], agg: str
) -> None:
    temperature, _ = write_random(store)
    api = make_api(store)
    # A range that starts and ends inside windows: the first and last windows are partial.
    start, end = T0 + 123_457, T0 + 5 * 3600_000 + 7_001
    r = api.get(
        "/api/v1/devices/dev-1/series",
        params={
            "metric": "temperature",
            "start": iso(start),
            "end": iso(end),
            "agg": agg,
            "every": "5m",
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["every_ms"] == 5 * MINUTE and body["truncated"] is False and body["agg"] == agg
    assert_same(body["points"], aggregate(temperature, start, end, agg, 5 * MINUTE))
    if agg == "count":
        assert all(type(v) is int for _, v in body["points"])


def test_window_edges_are_half_open(store: Store, make_api: Callable[..., TestClient]) -> None:
    """A point on a window's start belongs to it; a point at `end` is outside the range."""
    edge = (NOW_MS // MINUTE - 10) * MINUTE
    store.write(
        [
            Point("dev-1", edge - 1, {"v": 1.0}),
            Point("dev-1", edge, {"v": 2.0}),
            Point("dev-1", edge + MINUTE - 1, {"v": 4.0}),
            Point("dev-1", edge + MINUTE, {"v": 8.0}),
        ]
    )
    api = make_api(store)
    params = {
        "metric": "v",
        "start": iso(edge - MINUTE),
        "end": iso(edge + MINUTE),
        "every": "1m",
    }
    for agg, expected in [
        ("sum", [[edge - MINUTE, 1.0], [edge, 6.0]]),
        ("count", [[edge - MINUTE, 1], [edge, 2]]),
    ]:
        body = api.get("/api/v1/devices/dev-1/series", params={**params, "agg": agg}).json()
        assert body["points"] == expected
    body = api.get("/api/v1/devices/dev-1/series", params={**params, "agg": "last"}).json()
    assert body["points"] == [[edge - MINUTE, 1.0], [edge, 4.0]]


def test_empty_range_and_unknown_device_give_no_points(
    store: Store, make_api: Callable[..., TestClient]
) -> None:
    write_random(store, n=50)
    api = make_api(store)
    for device, start, end in [("dev-1", "-30d", "-20d"), ("nobody", "-24h", "now")]:
        r = api.get(
            f"/api/v1/devices/{device}/series", params={"metric": "temperature", "start": start, "end": end}
        )
        assert r.status_code == 200, r.text
        assert r.json()["points"] == [] and r.json()["truncated"] is False


def test_single_point(store: Store, make_api: Callable[..., TestClient]) -> None:
    store.write([Point("dev-1", NOW_MS - 90_000, {"temperature": 21.5})])
    api = make_api(store)
    for agg, value in [
        ("mean", 21.5),
        ("min", 21.5),
        ("max", 21.5),
        ("sum", 21.5),
        ("count", 1),
        ("last", 21.5),
    ]:
        body = api.get(
            "/api/v1/devices/dev-1/series", params={"metric": "temperature", "start": "-1h", "agg": agg}
        ).json()
        assert len(body["points"]) == 1
        ts, got = body["points"][0]
        assert got == value and type(got) is type(value)
        assert ts <= NOW_MS - 90_000 < ts + body["every_ms"]


def test_several_metrics_in_one_call(store: Store, make_api: Callable[..., TestClient]) -> None:
    temperature, humidity = write_random(store)
    api = make_api(store)
    r = api.get(
        "/api/v1/devices/dev-1/series",
        params={
            "metric": ["temperature", "humidity"],
            "start": "-6h",
            "end": "now",
            "agg": "max",
            "every": "10m",
        },
    )
    assert r.status_code == 200, r.text
    series = r.json()["series"]
    assert [s["metric"] for s in series] == ["temperature", "humidity"]
    start = NOW_MS - 6 * 3600_000
    assert_same(series[0]["points"], aggregate(temperature, start, NOW_MS, "max", 10 * MINUTE))
    assert_same(series[1]["points"], aggregate(humidity, start, NOW_MS, "max", 10 * MINUTE))


def test_max_points_picks_a_round_window_and_never_exceeds_it(
    store: Store, make_api: Callable[..., TestClient]
) -> None:
    temperature, _ = write_random(store)
    api = make_api(store)
    for max_points in (2, 7, 50, 100, 361, 1000):
        body = api.get(
            "/api/v1/devices/dev-1/series",
            params={"metric": "temperature", "start": "-6h", "agg": "mean", "max_points": max_points},
        ).json()
        every = body["every_ms"]
        assert len(body["points"]) <= max_points and body["truncated"] is False
        assert_same(body["points"], aggregate(temperature, NOW_MS - 6 * 3600_000, NOW_MS, "mean", every))
    assert body["every_ms"] == 30_000  # 6 h in ≤ 1000 windows: 30 s is the shortest round window


def test_more_windows_than_a_response_carries_is_truncated_and_says_so(
    store: Store, make_api: Callable[..., TestClient]
) -> None:
    from ingest.api.config import ApiSettings

    temperature, _ = write_random(store)
    api = make_api(store, settings=ApiSettings(max_points=100, rate_per_s=1000, rate_burst=1000))
    start = NOW_MS - 6 * 3600_000
    body = api.get(
        "/api/v1/devices/dev-1/series",
        params={"metric": "temperature", "start": "-6h", "every": "1m", "agg": "count"},
    ).json()
    assert body["truncated"] is True
    assert body["end_ms"] == (start // MINUTE + 100) * MINUTE
    assert_same(body["points"], aggregate(temperature, start, body["end_ms"], "count", MINUTE))
    # The same cut with nothing stored beyond it is not truncated.
    body = api.get(
        "/api/v1/devices/dev-1/series",
        params={"metric": "temperature", "start": "-30d", "end": "-29d", "every": "1m"},
    ).json()
    assert body["truncated"] is False and body["points"] == []


@pytest.mark.parametrize("agg", AGGS)
def test_influx_answers_equal_an_independent_influxql_query(
    influxd: InfluxDB,
    influx_db: str,
    influx_store: InfluxStore,
    make_api: Callable[..., TestClient],
    agg: str,
) -> None:
    write_random(influx_store)
    api = make_api(influx_store)
    start, end = T0 + 1, T0 + 4 * 3600_000 - 1
    body = api.get(
        "/api/v1/devices/dev-1/series",
        params={
            "metric": "temperature",
            "start": iso(start),
            "end": iso(end),
            "agg": agg,
            "every": "15m",
        },
    ).json()
    series = influxd.query(
        f'SELECT {agg}("temperature") FROM "telemetry" WHERE "device" = \'dev-1\' '
        f"AND time >= {start}ms AND time < {end}ms GROUP BY time(15m) fill(none)",
        db=influx_db,
    )
    assert body["points"] and body["points"] == [list(row) for row in series[0]["values"]]


def test_random_ranges_windows_and_aggregates_equal_python(
    store: Store, make_api: Callable[..., TestClient]
) -> None:
    temperature, _ = write_random(store, n=500, seed=3)
    api = make_api(store)
    first, last = temperature[0][0], temperature[-1][0]

    @given(
        start=st.integers(first - 60_000, last),
        span=st.integers(1, 3 * 3600_000),
        every=st.sampled_from(["1ms", "7s", "1m", "5m", "13m", "1h", "1d"]),
        agg=st.sampled_from(AGGS),
    )
    @settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def check(start: int, span: int, every: str, agg: str) -> None:
        params = {
            "metric": "temperature",
            "start": iso(start),
            "end": iso(start + span),
            "agg": agg,
            "every": every,
        }
        body = api.get("/api/v1/devices/dev-1/series", params=params).json()
        expected = aggregate(temperature, start, start + span, agg, body["every_ms"])
        if body["truncated"] or body["end_ms"] < start + span:  # `1ms` over hours: cut at the response limit
            expected = aggregate(temperature, start, body["end_ms"], agg, body["every_ms"])
        assert_same(body["points"], expected)

    check()
