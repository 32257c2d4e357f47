"""`sensorfleet serve` as a real subprocess against real Mosquitto and InfluxDB 1.x (or its SQLite store),
and a paho publisher that keeps count: what the ingest tests drive and check."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from ingest.state.database import STATE_FILE
from support.influx import InfluxDB
from support.procs import wait_until
from support.serve import ServeProcess


class IngestProcess(ServeProcess):
    """`sensorfleet serve` with readers for what it keeps in its data dir."""

    def dead_letters(self) -> list[tuple[str, str, bytes]]:
        with sqlite3.connect(self.data_dir / STATE_FILE) as db:
            rows = db.execute("SELECT topic, reason, payload FROM dead_letters ORDER BY id").fetchall()
        return [(t, r, bytes(p)) for t, r, p in rows]

    def registry_device(self, device: str) -> tuple[int, int]:
        """(received, duplicates) as the registry counts them."""
        with sqlite3.connect(self.data_dir / STATE_FILE) as db:
            row = db.execute("SELECT received, duplicates FROM devices WHERE id = ?", (device,)).fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)


@dataclass
class Backend:
    """Where `serve` stores points, and how a test counts them there (by the field `v` every reading has)."""

    name: str
    env: dict[str, str]
    count: Callable[[], dict[str, int]] = field(repr=False)
    """device → number of stored points."""

    def total(self) -> int:
        return sum(self.count().values())

    def wait_total(self, expected: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        total = -1
        while time.monotonic() < deadline:
            total = self.total()
            if total >= expected:
                return
            time.sleep(0.25)
        raise AssertionError(f"{self.name}: {total} of {expected} points stored after {timeout:.0f}s")


def influx_backend(server: InfluxDB, db: str) -> Backend:
    def count() -> dict[str, int]:
        series = server.query('SELECT count("v") FROM "telemetry" GROUP BY "device"', db=db)
        return {s["tags"]["device"]: int(s["values"][0][1]) for s in series}

    return Backend("influx", {"SENSORFLEET_INFLUX_URL": server.url, "SENSORFLEET_INFLUX_DB": db}, count)


def sqlite_backend(data_dir: Path) -> Backend:
    def count() -> dict[str, int]:
        path = data_dir / "telemetry.sqlite"
        if not path.exists():
            return {}
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        try:
            rows = db.execute(
                "SELECT device, COUNT(*) FROM points WHERE metric = 'v' GROUP BY device"
            ).fetchall()
        except sqlite3.OperationalError:  # the store has not created its tables yet
            return {}
        finally:
            db.close()
        return {d: int(n) for d, n in rows}

    return Backend("sqlite", {}, count)


class Publisher:
    """A QoS 1 paho publisher that counts PUBACKs, for publishing thousands of messages quickly."""

    def __init__(self, port: int, client_id: str = "test-publisher"):
        self.acked = 0
        self._lock = threading.Lock()
        # MQTT 3.1.1: what every broker speaks, the embedded one included.
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311)
        self.client.max_inflight_messages_set(200)
        self.client.max_queued_messages_set(0)
        self.client.on_publish = self._on_publish
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.sent = 0

    def _on_publish(self, client: object, userdata: object, mid: int, rc: object, props: object) -> None:
        with self._lock:
            self.acked += 1

    def publish(self, topic: str, payload: bytes | str, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain)
        self.sent += 1

    def publish_json(self, topic: str, doc: object) -> None:
        self.publish(topic, orjson.dumps(doc))

    def wait_acked(self, timeout: float = 60) -> None:
        wait_until(lambda: self.acked >= self.sent, timeout, f"PUBACK for {self.sent} messages", interval=0.1)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
