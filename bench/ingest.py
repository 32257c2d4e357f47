"""Ingest throughput and latency: real Mosquitto, real InfluxDB 1.6.7, `sensorfleet serve` processes.

Rows: flat readings (one per message) and batches of 20, with `serve --workers 1` and `--workers 2` (a
shared subscription), the state store in SQLite and in PostgreSQL; then latency at a steady 500 msg/s.
Throughput is from the first publish until the last point is queryable in InfluxDB; CPU and peak RSS
are the serving process's and its workers' together (from /proc).
Latency is publish → first seen by a 20 Hz InfluxQL poll, so it includes up to ~50 ms of polling.
"""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench._mqtt_load import LoadPublisher
from tests.support.influx import InfluxDB
from tests.support.mosquitto import Mosquitto
from tests.support.postgres import PostgreSQL
from tests.support.procs import wait_until
from tests.support.serve import ServeProcess

RUN_LIMIT_S = 60


def ingest_process(
    workdir: Path,
    broker: Mosquitto,
    influx: InfluxDB,
    db: str,
    name: str,
    workers: int = 1,
    database_url: str | None = None,
) -> ServeProcess:
    env = {
        "SENSORFLEET_MQTT_URL": broker.url,
        "SENSORFLEET_INFLUX_URL": influx.url,
        "SENSORFLEET_INFLUX_DB": db,
        "SENSORFLEET_CLIENT_ID": name,
    }
    if database_url:
        env["SENSORFLEET_DATABASE_URL"] = database_url
    return ServeProcess(workdir, env, ["--workers", str(workers)])


def count(influx: InfluxDB, db: str) -> int:
    series = influx.query('SELECT count("v") FROM "telemetry"', db=db)
    return int(series[0]["values"][0][1]) if series else 0


def make_payloads(form: str, messages: int) -> list[tuple[str, bytes]]:
    """Flat: one reading per message. Batch: 20 numbered readings per message. 50 devices."""
    base = int(time.time() * 1000) - 600_000
    payloads = []
    for m in range(messages):
        if form == "batch":
            first = (m // 50) * 20
            readings = [{"ts": base + first + k, "v": float(k)} for k in range(20)]
            doc: dict[str, Any] = {"boot": 1, "seq": first, "readings": readings}
        else:
            doc = {"ts": base + m // 50, "v": float(m), "seq": m // 50, "boot": 1}
        payloads.append((f"sf/dev-{m % 50}/telemetry", orjson.dumps(doc)))
    return payloads


def throughput(
    root: Path, influx: InfluxDB, form: str, workers: int, messages: int, postgres: PostgreSQL | None = None
) -> dict[str, Any]:
    db = f"bench_{form}_{workers}_{'pg' if postgres else 'sqlite'}"
    influx.create_database(db)
    broker = Mosquitto(root / f"mosquitto-{db}")
    broker.start()
    url = postgres.create_database(db) if postgres else None
    ingest = ingest_process(root / db, broker, influx, db, "ingest", workers, url)
    try:
        ingest.start()
        if workers > 1:  # the serving process is ready when `start` returns; its children a little later
            wait_until(lambda: "worker ingest-w1 started" in ingest.process.output(), 60, "the second worker")
        cpu_before = ingest.process.cpu_seconds(children=True)
        per_message = 20 if form == "batch" else 1
        expected = messages * per_message
        packets = LoadPublisher.packets(make_payloads(form, messages))
        publisher = LoadPublisher(broker.port)
        started = time.monotonic()
        publisher.send(packets)
        publisher.wait_acked()
        published_s = time.monotonic() - started
        stored = 0
        while time.monotonic() - started < RUN_LIMIT_S:
            stored = count(influx, db)
            if stored >= expected:
                break
            time.sleep(0.05)
        elapsed = time.monotonic() - started
        publisher.close()
        cpu = ingest.process.cpu_seconds(children=True) - cpu_before
        return {
            "scenario": f"{form}{' (20/msg)' if form == 'batch' else ''}, --workers {workers}, "
            + ("PostgreSQL" if postgres else "SQLite"),
            "messages": messages,
            "readings stored": f"{stored}/{expected}",
            "publish s": round(published_s, 2),
            "total s": round(elapsed, 2),
            "msg/s": round(messages * min(1.0, stored / expected) / elapsed),
            "readings/s": round(stored / elapsed),
            "CPU s / 1000 msg": round(cpu / messages * 1000, 3),
            "peak RSS MB": round(ingest.process.peak_rss_mb(children=True), 1),
            "p50 ms": "",
            "p99 ms": "",
        }
    finally:
        ingest.close()
        broker.stop()


def drain(root: Path, influx: InfluxDB, form: str, messages: int) -> dict[str, Any]:
    """The ingest's own rate: a backlog queued by the broker while it was stopped, drained on restart.

    Timed from the first to the last point stored, so neither the publisher nor start-up counts.
    """
    db = f"bench_drain_{form}"
    influx.create_database(db)
    broker = Mosquitto(root / f"mosquitto-{db}")
    broker.start()
    ingest = ingest_process(root / db, broker, influx, db, "ingest-drain")
    try:
        ingest.start()  # creates the persistent session
        ingest.process.stop()
        publisher = LoadPublisher(broker.port)
        publisher.send(LoadPublisher.packets(make_payloads(form, messages)))
        publisher.wait_acked()
        publisher.close()
        expected = messages * (20 if form == "batch" else 1)
        ingest.process.start()
        started = time.monotonic()
        while (first := count(influx, db)) == 0 and time.monotonic() - started < RUN_LIMIT_S:
            time.sleep(0.02)
        first_at = time.monotonic()
        cpu_before = ingest.process.cpu_seconds()
        stored = first
        while stored < expected and time.monotonic() - started < RUN_LIMIT_S:
            time.sleep(0.05)
            stored = count(influx, db)
        elapsed = time.monotonic() - first_at
        cpu = ingest.process.cpu_seconds() - cpu_before
        rate = (stored - first) / elapsed
        return {
            "scenario": f"{form} backlog drain, 1 process",
            "messages": messages,
            "readings stored": f"{stored}/{expected}",
            "publish s": "",
            "total s": round(elapsed, 2),
            "msg/s": round(rate / (20 if form == "batch" else 1)),
            "readings/s": round(rate),
            "CPU s / 1000 msg": round(cpu / (messages * (stored - first) / expected) * 1000, 3),
            "peak RSS MB": round(ingest.process.peak_rss_mb(), 1),
            "p50 ms": "",
            "p99 ms": "",
        }
    finally:
        ingest.close()
        broker.stop()


def latency(root: Path, influx: InfluxDB, rate: int = 500, seconds: int = 10) -> dict[str, Any]:
    db = "bench_latency"
    influx.create_database(db)
    broker = Mosquitto(root / "mosquitto-latency")
    broker.start()
    ingest = ingest_process(root / "latency-0", broker, influx, db, "ingest-latency")
    try:
        ingest.start()
        cpu_before = ingest.process.cpu_seconds()
        publisher = LoadPublisher(broker.port)
        published: dict[int, float] = {}  # value → publish time
        seen: dict[int, float] = {}
        done = threading.Event()

        def poll() -> None:
            client = httpx.Client(base_url=influx.url, timeout=10)
            while not done.is_set() or len(seen) < len(published):
                r = client.get("/query", params={"db": db, "q": 'SELECT "v" FROM "telemetry"', "epoch": "ms"})
                now = time.monotonic()
                for s in r.json()["results"][0].get("series", []):
                    for _, v in s["values"]:
                        seen.setdefault(int(v), now)
                if done.is_set() and time.monotonic() - stop_at > 30:
                    break
                time.sleep(0.05)
            client.close()

        stop_at = float("inf")
        poller = threading.Thread(target=poll)
        poller.start()
        base = int(time.time() * 1000) - 600_000
        packets = LoadPublisher.packets(
            (f"sf/dev-{n % 50}/telemetry", orjson.dumps({"ts": base + n, "v": float(n)}))
            for n in range(rate * seconds)
        )
        start = time.monotonic()
        for n, packet in enumerate(packets):
            due = start + n / rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            published[n] = time.monotonic()
            publisher.send_one(packet)
        stop_at = time.monotonic()
        done.set()
        poller.join(RUN_LIMIT_S)
        publisher.close()
        latencies = sorted((seen[n] - t) * 1000 for n, t in published.items() if n in seen)
        messages = len(published)
        return {
            "scenario": f"latency at {rate} msg/s, 1 process",
            "messages": messages,
            "readings stored": f"{len(latencies)}/{messages}",
            "publish s": seconds,
            "total s": "",
            "msg/s": rate,
            "readings/s": rate,
            "CPU s / 1000 msg": round((ingest.process.cpu_seconds() - cpu_before) / messages * 1000, 3),
            "peak RSS MB": round(ingest.process.peak_rss_mb(), 1),
            "p50 ms": round(statistics.median(latencies)) if latencies else "",
            "p99 ms": round(latencies[int(len(latencies) * 0.99) - 1]) if latencies else "",
        }
    finally:
        ingest.close()
        broker.stop()


def run() -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        root = Path(tmp)
        influx = InfluxDB(root / "influxdb")
        influx.start()
        postgres = PostgreSQL()
        postgres.start()
        try:
            return [
                throughput(root, influx, "flat", 1, 60_000),
                throughput(root, influx, "batch", 1, 15_000),
                throughput(root, influx, "flat", 2, 60_000),
                throughput(root, influx, "batch", 2, 15_000),
                throughput(root, influx, "flat", 1, 60_000, postgres),
                throughput(root, influx, "batch", 1, 15_000, postgres),
                throughput(root, influx, "flat", 2, 60_000, postgres),
                throughput(root, influx, "batch", 2, 15_000, postgres),
                drain(root, influx, "flat", 60_000),
                drain(root, influx, "batch", 15_000),
                latency(root, influx),
            ]
        finally:
            postgres.close()
            influx.close()
