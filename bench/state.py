"""The state store's cost per writer batch: `Registry.record` on SQLite and on PostgreSQL.

The writer records each batch it stored in one registry transaction: the devices' rows locked, their
seq ranges read and written, counts and metric names updated. Rows: a batch of 500 flat messages from
50 devices (the writer's largest batch under flat load) and a batch of 50 messages of 20 readings, each
continuing the devices' seq numbers, so every batch extends existing ranges as it does in service; and
the same batch recorded again (a redelivery: all duplicates). Times are per `record` call, medians and
p99 of 200 calls, with the state database on this machine (PostgreSQL over loopback TCP).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ingest.codec.payload import Telemetry
from ingest.points import Point
from ingest.registry import Registry
from ingest.state.database import StateDatabase
from ingest.state.migrate import open_state
from tests.support.postgres import PostgreSQL

DEVICES = 50
CALLS = 200


def batch_maker(per_message: int, messages: int) -> Callable[[int], list[tuple[Telemetry, int]]]:
    """Batch `n`: `messages` messages spread over the devices, numbered on from batch n-1's."""
    rounds = messages // DEVICES
    prefix = f"dev{per_message}"  # each shape its own devices

    def make(n: int) -> list[tuple[Telemetry, int]]:
        batch = []
        for r in range(rounds):
            seq = (n * rounds + r) * per_message
            for d in range(DEVICES):
                device = f"{prefix}-{d}"
                points = tuple(Point(device, seq + k, {"v": 1.0}) for k in range(per_message))
                batch.append((Telemetry(device, points, boot=1, seq=seq), 0))
        return batch

    return make


def measure(state: StateDatabase, name: str, per_message: int, messages: int) -> list[dict[str, Any]]:
    registry = Registry(state)
    make = batch_maker(per_message, messages)
    registry.record(make(0))  # the devices exist, as in service
    fresh, again = [], []
    for n in range(1, CALLS + 1):
        batch = make(n)
        started = time.perf_counter()
        registry.record(batch)
        fresh.append(time.perf_counter() - started)
        started = time.perf_counter()
        duplicates = registry.record(batch)
        again.append(time.perf_counter() - started)
        assert duplicates == messages * per_message, duplicates
    shape = f"{messages}×{per_message}"
    return [_row(name, shape, "new", fresh, messages), _row(name, shape, "redelivered", again, messages)]


def _row(name: str, shape: str, kind: str, times: list[float], messages: int) -> dict[str, Any]:
    times = sorted(times)
    median = statistics.median(times)
    return {
        "state store": name,
        "messages × readings": shape,
        "readings": kind,
        "median ms / batch": round(median * 1000, 2),
        "p99 ms / batch": round(times[int(len(times) * 0.99) - 1] * 1000, 2),
        "µs / message": round(median / messages * 1e6, 1),
    }


def run() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-state-") as tmp:
        postgres = PostgreSQL()
        postgres.start()
        try:
            for name, url in (("SQLite", None), ("PostgreSQL", postgres.create_database("bench_state"))):
                state = open_state(Path(tmp) / name, url)
                try:
                    rows += measure(state, name, 1, 500)
                    rows += measure(state, name, 20, 50)
                finally:
                    state.close()
        finally:
            postgres.close()
    return rows
