"""Alert evaluation at scale: 1,000 rules over 1,000 devices, on the state store in SQLite.

The rules: 600 thresholds on one device each, 200 on a tag (ten sites), 100 on every device (thresholds
and rates), 50 "no readings" and 50 "readings missing" on every device. The devices are in a real
registry, each with a site tag and five metrics. Rows:
- per message: the engine's evaluation of telemetry messages of five readings each, values that start
  no alert (the common case), and one message in a hundred over its device's own limit (an alert
  starts, and the device's next message ends it: a state-store write each);
- per tick: the timer's work (re-reading the pending and firing alerts, the scan of the fleet for
  silent and incomplete devices, promoting pending alerts) with none and with 1,000 alerts active.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from ingest.alerts.engine import AlertEngine, Facts, IngestFacts
from ingest.alerts.rules import Rule
from ingest.alerts.store import AlertStore
from ingest.codec.payload import Telemetry
from ingest.metrics import Metrics
from ingest.points import Point
from ingest.registry import Registry
from ingest.state.migrate import open_state

DEVICES = 1000
METRICS = ("temperature", "humidity", "pressure", "co2", "voltage")
MESSAGES = 20_000


def rules() -> list[Rule]:
    found: list[dict[str, Any]] = []
    for i in range(600):
        found.append({"selector": {"devices": [f"dev-{i}"]}, "condition": _above(METRICS[i % 5], 1000 + i)})
    for i in range(200):
        found.append(
            {"selector": {"tag": ["site", f"s{i % 10}"]}, "condition": _above(METRICS[i % 5], 2000 + i)}
        )
    for i in range(100):
        condition = (
            _above(METRICS[i % 5], 3000 + i)
            if i % 2
            else {"kind": "rate", "metric": METRICS[i % 5], "per_s": 1e6}
        )
        found.append({"selector": {"all": True}, "condition": condition})
    found += [{"selector": {"all": True}, "condition": {"kind": "no_readings", "after_s": 3600}}] * 50
    found += [{"selector": {"all": True}, "condition": {"kind": "missing", "over": 1000}}] * 50
    return [Rule.model_validate({"name": f"r{n}", **r, "for_s": 60}) for n, r in enumerate(found)]


def _above(metric: str, limit: float) -> dict[str, Any]:
    return {"kind": "threshold", "metric": metric, "above": limit, "hysteresis": 1}


def run() -> list[dict[str, Any]]:
    rng = random.Random(7)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-alerts-") as tmp:
        state = open_state(Path(tmp))
        registry = Registry(state)
        devices = [f"dev-{d}" for d in range(DEVICES)]
        now_ms = int(time.time() * 1000)
        registry.record(
            (Telemetry(d, (Point(d, now_ms, dict.fromkeys(METRICS, 1.0)),), 1, 0), now_ms) for d in devices
        )
        for i, device in enumerate(devices):
            registry.update_tags(device, {"site": f"s{i % 10}"})
        store = AlertStore(state)
        for rule in rules():
            store.add_rule(rule, now_ms)
        facts = Facts(registry.tags_for, registry.devices, lambda: IngestFacts(0, 0, 0), "ingest:bench")
        engine = AlertEngine(store, facts, Metrics(), "http://bench", scan_s=0)  # every tick scans
        engine.refresh()

        def messages(high: bool) -> list[tuple[str, list[Point]]]:
            """With `high`, one message in a hundred is over its device's own limit (and no other)."""
            out = []
            for n in range(MESSAGES):
                device = devices[rng.randrange(DEVICES)]
                value = 1500.0 if high and n % 100 == 0 else 20.0
                fields = {m: value + rng.random() for m in METRICS}
                out.append((device, [Point(device, now_ms + n, fields)] * 5))
            return out

        for label, high in (("no alert starts", False), ("1 in 100 starts or ends one", True)):
            batch = messages(high)
            started = time.perf_counter()
            for device, points in batch:
                engine.readings(device, points)
                engine.drain()
            elapsed = time.perf_counter() - started
            rows.append(
                _row(f"per message of 5 readings, {label}", MESSAGES, None, elapsed / MESSAGES, store)
            )
            times = []
            for _ in range(20):
                started = time.perf_counter()
                engine.tick()
                times.append(time.perf_counter() - started)
            active = len(store.active())
            rows.append(
                _row(
                    f"per tick with the fleet scan, {active} alerts active",
                    20,
                    statistics.median(times),
                    None,
                    store,
                )
            )
        state.close()
    return rows


def _row(
    work: str, count: int, median_s: float | None, each_s: float | None, store: AlertStore
) -> dict[str, Any]:
    return {
        "work": work,
        "count": count,
        "median ms": "" if median_s is None else round(median_s * 1000, 1),
        "µs each": "" if each_s is None else round(each_s * 1e6, 1),
        "alerts active after": len(store.active()),
    }
