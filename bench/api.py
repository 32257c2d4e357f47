"""Latency of the query API: a 24-hour series at 1-minute means, over 1,000,000 stored points, on each
store, through real HTTP (uvicorn) with a bearer token. Target: p95 < 100 ms.

The same queries made on the store directly are timed too, to show what the API adds."""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from bench._http import served
from ingest.api.config import ApiSettings
from ingest.api.tokens import Scope, TokenStore
from ingest.app import build_app
from ingest.points import Point
from ingest.service import IngestService
from ingest.settings import load_settings
from ingest.state.migrate import open_state
from ingest.storage.base import Agg, Store
from ingest.storage.influx import InfluxStore
from ingest.storage.influx_http import InfluxHttp
from ingest.storage.sqlite import SqliteStore
from tests.support.influx import InfluxDB
from tests.support.procs import wait_until

POINTS = 1_000_000
STEP_MS = 1000
DAY_MS = 86_400_000
REQUESTS = 200
WARMUP = 10


def _fill_influx(server: InfluxDB, db: str, start_ms: int, values: list[float]) -> None:
    for i in range(0, len(values), 100_000):
        lines = (
            f"telemetry,device=bench v={v!r} {start_ms + (i + j) * STEP_MS}"
            for j, v in enumerate(values[i : i + 100_000])
        )
        server.write(db, "\n".join(lines))


def _fill_sqlite(store: SqliteStore, start_ms: int, values: list[float]) -> None:
    for i in range(0, len(values), 100_000):
        store.write(
            [
                Point("bench", start_ms + (i + j) * STEP_MS, {"v": v})
                for j, v in enumerate(values[i : i + 100_000])
            ]
        )


def _measure(store: Store, workdir: Path, start_ms: int, end_ms: int) -> tuple[list[float], list[float]]:
    """Latencies (ms) through the API over HTTP, and of the same queries made on the store directly."""
    service = IngestService(load_settings(data_dir=workdir), store=store)
    secret = TokenStore(open_state(workdir)).create(Scope.READ, "bench")[0]
    app = build_app(service, ApiSettings(rate_per_s=100_000, rate_burst=100_000))
    rng = random.Random(3)
    latencies, direct = [], []
    try:
        with (
            served(app) as base,
            httpx.Client(base_url=base, headers={"Authorization": f"Bearer {secret}"}) as http,
        ):
            for n in range(WARMUP + REQUESTS):
                # Whole minutes back from the (minute-aligned) end: exactly 1440 windows.
                day_start = end_ms - DAY_MS - rng.randrange((end_ms - DAY_MS - start_ms) // 60_000) * 60_000
                params = {
                    "metric": "v",
                    "agg": "mean",
                    "every": "1m",
                    "start": _iso(day_start),
                    "end": _iso(day_start + DAY_MS),
                }
                began = time.perf_counter()
                r = http.get("/api/v1/devices/bench/series", params=params)
                elapsed = time.perf_counter() - began
                if r.status_code != 200 or len(r.json()["points"]) != 1440:
                    raise RuntimeError(f"unexpected answer {r.status_code}: {r.text[:200]}")
                began = time.perf_counter()
                store.series("bench", "v", day_start, day_start + DAY_MS, Agg.MEAN, 60_000)
                if n >= WARMUP:
                    latencies.append(elapsed * 1000)
                    direct.append((time.perf_counter() - began) * 1000)
    finally:
        service.registry.close()
    return latencies, direct


def _iso(ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _row(store: str, measured: tuple[list[float], list[float]]) -> dict[str, object]:
    latencies, direct = measured
    q, d = statistics.quantiles(latencies, n=100), statistics.quantiles(direct, n=100)
    return {
        "store": store,
        "points stored": POINTS,
        "requests": len(latencies),
        "p50 ms": round(q[49], 1),
        "p95 ms": round(q[94], 1),
        "max ms": round(max(latencies), 1),
        "store alone p50 ms": round(d[49], 1),
        "store alone p95 ms": round(d[94], 1),
    }


def _influx_row(
    work: Path, start_ms: int, end_ms: int, values: list[float], settled: bool
) -> dict[str, object]:
    """Just written, InfluxDB answers from its in-memory write cache; settled, from TSM files, which is
    where a live server keeps everything but its newest writes. A short cold-write snapshot delay makes
    the server settle within seconds instead of InfluxDB's default 10 minutes."""
    name = "influxdb-settled" if settled else "influxdb-cache"
    options = {"cache-snapshot-write-cold-duration": '"2s"'} if settled else {}
    influxd = InfluxDB(work / name, options)
    influxd.start()
    try:
        influxd.create_database("bench")
        _fill_influx(influxd, "bench", start_ms, values)
        if settled:
            wait_until(lambda: influxd.cache_bytes("bench") == 0, 120, "InfluxDB to snapshot its cache")
        elif influxd.cache_bytes("bench") == 0:
            raise RuntimeError("InfluxDB snapshotted its cache before the in-cache measurement")
        influx = InfluxStore(InfluxHttp(influxd.url, "bench"))
        where = "TSM files" if settled else "write cache"
        row = _row(f"influxdb 1.x, {where}", _measure(influx, work / name, start_ms, end_ms))
        influx.close()
        return row
    finally:
        influxd.close()


def run() -> list[dict[str, object]]:
    end_ms = (int(time.time() * 1000) // 60_000) * 60_000
    start_ms = end_ms - POINTS * STEP_MS
    rng = random.Random(1)
    values = [round(rng.uniform(-20, 40), 3) for _ in range(POINTS)]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        sqlite = SqliteStore(work / "telemetry.sqlite")
        _fill_sqlite(sqlite, start_ms, values)
        rows = [_row("sqlite", _measure(sqlite, work / "sqlite", start_ms, end_ms))]
        sqlite.close()
        for settled in (False, True):
            rows.append(_influx_row(work, start_ms, end_ms, values, settled))
    return rows
