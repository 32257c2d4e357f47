"""A million stored points, downsampled by `max_points` through the API, equal the Python computation
over the raw points on both stores. InfluxDB is filled with line protocol in bulk, SQLite through its
write path."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
from api.helpers import NOW_MS, Raw, aggregate, iso
from fastapi.testclient import TestClient

from ingest.points import Point
from ingest.storage.influx import InfluxStore
from ingest.storage.sqlite import SqliteStore
from support.influx import InfluxDB

N = 1_000_000
STEP_MS = 1000
T0 = NOW_MS - N * STEP_MS


@pytest.fixture(scope="module")
def raw() -> Raw:
    rng = random.Random(11)
    return [(T0 + i * STEP_MS, round(rng.uniform(-20, 40), 3)) for i in range(N)]


def check_downsampled(api: TestClient, raw: Raw) -> None:
    for agg in ("mean", "max", "count"):
        r = api.get(
            "/api/v1/devices/big/series",
            params={"metric": "v", "start": iso(T0), "end": "now", "agg": agg, "max_points": 1000},
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["truncated"] is False and 500 <= len(body["points"]) <= 1000
        expected = aggregate(raw, T0, NOW_MS, agg, body["every_ms"])
        assert [p[0] for p in body["points"]] == [p[0] for p in expected]
        assert [p[1] for p in body["points"]] == pytest.approx([p[1] for p in expected], rel=1e-9)
    assert sum(v for _, v in body["points"]) == N


def test_a_million_points_in_influxdb(
    influxd: InfluxDB,
    influx_db: str,
    influx_store: InfluxStore,
    make_api: Callable[..., TestClient],
    raw: Raw,
) -> None:
    for i in range(0, N, 100_000):
        influxd.write(
            influx_db, "\n".join(f"telemetry,device=big v={v!r} {ts}" for ts, v in raw[i : i + 100_000])
        )
    check_downsampled(make_api(influx_store), raw)


def test_a_million_points_in_sqlite(
    sqlite_store: SqliteStore, make_api: Callable[..., TestClient], raw: Raw
) -> None:
    for i in range(0, N, 100_000):
        sqlite_store.write([Point("big", ts, {"v": v}) for ts, v in raw[i : i + 100_000]])
    check_downsampled(make_api(sqlite_store), raw)
