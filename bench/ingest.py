"""Ingest throughput and latency: real Mosquitto, real InfluxDB 1.6.7, `sensorfleet serve` processes.

Rows: 100,000 flat readings (one per message, 20 devices) and batches of 20, with `serve --workers 1`
and `--workers 2` (a shared subscription), the state store in SQLite and in PostgreSQL; backlogs
drained after a restart; latency at a steady 50 and 500 msg/s; and paho-mqtt alone (`_paho_floor`).
In the one-process rows a bare `mosquitto_sub` counts the same messages in the same run: the broker's
own ceiling, against which the ingest's rate is given as a ratio.
Every row has a fresh Mosquitto and a fresh InfluxDB. The rows the targets read (one process, SQLite,
and the latencies) run `REPEATS` times; the row shown is the median run, with every run's value beside it.
Throughput is from the first publish until the last point is queryable in InfluxDB; CPU and peak RSS
are the serving process's and its workers' together (from /proc).
Latency is publish → first seen by an InfluxQL poll that asks again as soon as it has an answer (for the
points not seen yet), so it includes about one query's time.
The second table holds each target with the value measured and whether it is met.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
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


DEVICES = 20


def make_payloads(form: str, messages: int) -> list[tuple[str, bytes]]:
    """Flat: one reading per message. Batch: 20 numbered readings per message. 20 devices."""
    base = int(time.time() * 1000) - 600_000
    payloads = []
    for m in range(messages):
        if form == "batch":
            first = (m // DEVICES) * 20
            readings = [{"ts": base + first + k, "v": float(k)} for k in range(20)]
            doc: dict[str, Any] = {"boot": 1, "seq": first, "readings": readings}
        else:
            doc = {"ts": base + m // DEVICES, "v": float(m), "seq": m // DEVICES, "boot": 1}
        payloads.append((f"sf/dev-{m % DEVICES}/telemetry", orjson.dumps(doc)))
    return payloads


class BareSubscriber:
    """`mosquitto_sub` counting `count` messages at QoS 1 beside the ingest: the broker's own ceiling."""

    def __init__(self, broker: Mosquitto, count: int, out: Path):
        self.count, self.out = count, out
        self.process = subprocess.Popen(
            [
                *("mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.port), "-q", "1", "-i", "bare-sub"),
                *("-t", "sf/+/telemetry", "-C", str(count), "-F", "%U"),
            ],
            stdout=out.open("wb"),
            stderr=subprocess.DEVNULL,
        )
        time.sleep(0.5)  # subscribed: mosquitto_sub has no other way to say so

    def rate(self) -> float:
        """Messages per second from its first to its last message (0 if it did not get them all)."""
        try:
            self.process.wait(RUN_LIMIT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return 0.0
        stamps = self.out.read_text().split()
        if len(stamps) < self.count:
            return 0.0
        return (self.count - 1) / max(float(stamps[-1]) - float(stamps[0]), 1e-9)


def paho_floor(root: Path, messages: int, kind: str) -> dict[str, Any]:
    """paho-mqtt alone, acknowledging at once, in a process of its own (`bench._paho_floor`): the
    intake's client (`intake`) or paho's own (`stock`)."""
    broker = Mosquitto(root / f"mosquitto-paho-{kind}")
    broker.start()
    floor = subprocess.Popen(
        [sys.executable, "-m", "bench._paho_floor", str(broker.port), str(messages), kind],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert floor.stdout is not None
        if floor.stdout.readline().strip() != "ready":
            raise RuntimeError("the paho subscriber did not subscribe")
        publisher = LoadPublisher(broker.port)
        publisher.send(LoadPublisher.packets(make_payloads("flat", messages)))
        publisher.wait_acked()
        publisher.close()
        result = orjson.loads(floor.communicate(timeout=RUN_LIMIT_S)[0].strip().splitlines()[-1])
    finally:
        if floor.poll() is None:
            floor.kill()
            floor.wait()
        broker.stop()
    return {
        **_empty_row(),
        "scenario": f"paho-mqtt alone (MQTT 5, manual ack at once), {kind} client, 1 process",
        "messages": messages,
        "msg/s": round(messages / result["seconds"]),
        "CPU s / 1000 msg": round(result["cpu_s"] / messages * 1000, 3),
    }


def _empty_row() -> dict[str, Any]:
    keys = ["scenario", "messages", "readings stored", "publish s", "total s", "msg/s", "readings/s"]
    keys += ["CPU s / 1000 msg", "peak RSS MB", "p50 ms", "p99 ms", "broker ceiling msg/s", "of ceiling"]
    keys.append("runs")
    return dict.fromkeys(keys, "")


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
        bare = BareSubscriber(broker, messages, root / f"{db}-bare.txt") if workers == 1 else None
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
        rate = messages * min(1.0, stored / expected) / elapsed
        ceiling = bare.rate() if bare else 0.0
        return {
            **_empty_row(),
            "scenario": f"{form}{' (20/msg)' if form == 'batch' else ''}, --workers {workers}, "
            + ("PostgreSQL" if postgres else "SQLite"),
            "messages": messages,
            "readings stored": f"{stored}/{expected}",
            "publish s": round(published_s, 2),
            "total s": round(elapsed, 2),
            "msg/s": round(rate),
            "readings/s": round(stored / elapsed),
            "CPU s / 1000 msg": round(cpu / messages * 1000, 3),
            "peak RSS MB": round(ingest.process.peak_rss_mb(children=True), 1),
            "broker ceiling msg/s": round(ceiling) if ceiling else "",
            "of ceiling": f"{rate / ceiling:.2f}" if ceiling else "",
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
            **_empty_row(),
            "scenario": f"{form} backlog drain, 1 process",
            "messages": messages,
            "readings stored": f"{stored}/{expected}",
            "publish s": "",
            "total s": round(elapsed, 2),
            "msg/s": round(rate / (20 if form == "batch" else 1)),
            "readings/s": round(rate),
            "CPU s / 1000 msg": round(cpu / (messages * (stored - first) / expected) * 1000, 3),
            "peak RSS MB": round(ingest.process.peak_rss_mb(), 1),
        }
    finally:
        ingest.close()
        broker.stop()


def latency(root: Path, influx: InfluxDB, rate: int = 500, seconds: int = 10) -> dict[str, Any]:
    db = f"bench_latency_{rate}"
    influx.create_database(db)
    broker = Mosquitto(root / f"mosquitto-latency-{rate}")
    broker.start()
    ingest = ingest_process(root / f"latency-{rate}", broker, influx, db, "ingest-latency")
    try:
        ingest.start()
        cpu_before = ingest.process.cpu_seconds()
        publisher = LoadPublisher(broker.port)
        published: dict[int, float] = {}  # value → publish time
        seen: dict[int, float] = {}
        done = threading.Event()

        def poll() -> None:
            # Asks only for points at or after the oldest not yet seen (each reading's ts is base + n),
            # as often as InfluxDB answers, so polling adds about one query's time, not a poll interval.
            client = httpx.Client(base_url=influx.url, timeout=10)
            unseen = 0
            while not done.is_set() or len(seen) < len(published):
                q = f'SELECT "v" FROM "telemetry" WHERE time >= {base + unseen}ms'
                r = client.get("/query", params={"db": db, "q": q, "epoch": "ms"})
                now = time.monotonic()
                for s in r.json()["results"][0].get("series", []):
                    for _, v in s["values"]:
                        seen.setdefault(int(v), now)
                while unseen in seen:
                    unseen += 1
                if done.is_set() and time.monotonic() - stop_at > 30:
                    break
                time.sleep(0.001)
            client.close()

        stop_at = float("inf")
        base = int(time.time() * 1000) - 600_000
        poller = threading.Thread(target=poll)
        poller.start()
        packets = LoadPublisher.packets(
            (f"sf/dev-{n % DEVICES}/telemetry", orjson.dumps({"ts": base + n, "v": float(n)}))
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
            **_empty_row(),
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


FLAT, BATCHES = 100_000, 10_000
REPEATS = 3
"""Runs of each row a target reads; the row shown is the median run."""

Scenario = Callable[[Path, InfluxDB], dict[str, Any]]


def fresh(root: Path, name: str, scenario: Scenario) -> dict[str, Any]:
    """`scenario` in a directory and an InfluxDB of its own, not in a database the earlier rows filled."""
    workdir = root / name
    workdir.mkdir()
    influx = InfluxDB(workdir / "influxdb")
    influx.start()
    try:
        return scenario(workdir, influx)
    finally:
        influx.close()


def median_of(root: Path, name: str, scenario: Scenario, key: str) -> dict[str, Any]:
    """The run whose `key` is the median of `REPEATS` fresh runs, with every run's `key` beside it."""
    runs = [fresh(root, f"{name}-run{n}", scenario) for n in range(REPEATS)]
    median = sorted(runs, key=lambda r: r[key])[len(runs) // 2]
    return {**median, "runs": f"{key}: " + " / ".join(f"{r[key]:,}" for r in runs)}


def run() -> dict[str, list[dict[str, Any]]]:
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        root = Path(tmp)
        postgres = PostgreSQL()
        postgres.start()

        def rate(form: str, workers: int, pg: PostgreSQL | None = None) -> Scenario:
            messages = FLAT if form == "flat" else BATCHES
            return lambda where, influx: throughput(where, influx, form, workers, messages, pg)

        try:
            runs = {
                "flat": median_of(root, "flat", rate("flat", 1), "msg/s"),
                "batch": median_of(root, "batch", rate("batch", 1), "readings/s"),
                "flat 2": fresh(root, "flat-2", rate("flat", 2)),
                "batch 2": fresh(root, "batch-2", rate("batch", 2)),
                "flat pg": fresh(root, "flat-pg", rate("flat", 1, postgres)),
                "batch pg": fresh(root, "batch-pg", rate("batch", 1, postgres)),
                "flat 2 pg": fresh(root, "flat-2-pg", rate("flat", 2, postgres)),
                "batch 2 pg": fresh(root, "batch-2-pg", rate("batch", 2, postgres)),
                "drain": fresh(root, "drain", lambda where, influx: drain(where, influx, "flat", FLAT)),
                "drain batch": fresh(
                    root, "drain-batch", lambda where, influx: drain(where, influx, "batch", BATCHES)
                ),
                "latency 50": median_of(
                    root, "latency-50", lambda where, influx: latency(where, influx, 50, 20), "p99 ms"
                ),
                "latency 500": median_of(
                    root, "latency-500", lambda where, influx: latency(where, influx, 500, 10), "p99 ms"
                ),
                "paho": paho_floor(root, FLAT, "intake"),
                "paho stock": paho_floor(root, FLAT, "stock"),
            }
        finally:
            postgres.close()
    return {"runs": list(runs.values()), "targets": targets(runs)}


def targets(runs: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Each target of the one-process ingest with what this run measured."""
    flat, batch, paho, stock = runs["flat"], runs["batch"], runs["paho"], runs["paho stock"]
    rss = max(flat["peak RSS MB"], runs["drain"]["peak RSS MB"])
    rows = [
        ("latency p50 at 50 msg/s", "≤ 15 ms", runs["latency 50"]["p50 ms"], lambda v: v <= 15),
        ("latency p99 at 50 msg/s", "≤ 50 ms", runs["latency 50"]["p99 ms"], lambda v: v <= 50),
        ("latency p50 at 500 msg/s", "≤ 15 ms", runs["latency 500"]["p50 ms"], lambda v: v <= 15),
        ("latency p99 at 500 msg/s", "≤ 50 ms", runs["latency 500"]["p99 ms"], lambda v: v <= 50),
        ("CPU s per 1,000 flat messages", "≤ 0.10", flat["CPU s / 1000 msg"], lambda v: v <= 0.10),
        ("flat msg/s stored", "≥ 8,000", flat["msg/s"], lambda v: v >= 8000),
        ("readings/s in batches of 20", "≥ 100,000", batch["readings/s"], lambda v: v >= 100_000),
        ("peak RSS under a 100,000-message burst (MB)", "≤ 100", rss, lambda v: v <= 100),
    ]
    table = [
        {"target": name, "wanted": want, "measured": value, "met": _yes(value != "" and met(value))}
        for name, want, value, met in rows
    ]
    ratios = [
        ("flat msg/s of the broker's ceiling (bare mosquitto_sub, same run)", flat["of ceiling"]),
        ("batch msg/s of the broker's ceiling (bare mosquitto_sub, same run)", batch["of ceiling"]),
        ("flat msg/s of paho-mqtt alone", f"{flat['msg/s'] / paho['msg/s']:.2f}"),
        ("paho-mqtt alone (the intake's client): CPU s per 1,000 messages", paho["CPU s / 1000 msg"]),
        ("paho-mqtt alone (its own client): CPU s per 1,000 messages", stock["CPU s / 1000 msg"]),
    ]
    return table + [{"target": name, "wanted": "", "measured": value, "met": ""} for name, value in ratios]


def _yes(met: bool) -> str:
    return "yes" if met else "no"
