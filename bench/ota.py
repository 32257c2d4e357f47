"""Over-the-air update benchmark: virtual boards running the real firmware (MicroPython unix port,
heap capped at 128K, sampling every 0.2 s throughout) → Mosquitto → `sensorfleet serve` (rollout
tick 0.2 s) → InfluxDB, as in tests/reliability/test_rel_ota.py. The bundle is the shipped app
compiled, as `sensorfleet firmware build` makes it.

One row per fleet size (1 board, then 20 with a canary first and the other 19 in one wave):
- the time from the rollout's creation to every board running the new version and healthy, and to
  the canary's;
- the bytes on the wire per board: every `ota/req` and `ota/data` MQTT packet (fixed header, topic,
  payload; TCP/IP not counted), counted by a subscriber on the broker, against the bundle's bytes
  (the chunk overhead: request packets, answer headers and topics);
- each board's heap high-water and lowest free heap while it downloaded (its console's stats lines).
The broker runs without the ACL so that the counting subscriber may read every board's `ota/data`;
the ACL changes nothing on the wire."""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from reliability.chain import Chain, chain
from reliability.ota_fleet import (
    TICK,
    app_files,
    device,
    publish_bundle,
    roll_out,
    rollout_state,
    start_running,
)

from ingest.ota.rollouts import RolloutState
from support.boards import STATS
from support.influx import InfluxDB
from support.procs import wait_until

FLEETS = (1, 20)
BOARD = {"interval_s": 0.2, "status_s": 2, "log_s": 0.5}


class WireCount:
    """Bytes of every `ota/req` and `ota/data` packet per device, as MQTT puts them on the wire."""

    def __init__(self, port: int, username: str, password: str):
        self.lock = threading.Lock()
        self.bytes: dict[str, int] = {}
        self.chunks: dict[str, int] = {}
        ready = threading.Event()
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-ota-wire", protocol=mqtt.MQTTv311)
        c.username_pw_set(username, password)
        c.on_connect = lambda cl, *a: cl.subscribe([("sf/+/ota/req", 0), ("sf/+/ota/data", 0)])
        c.on_subscribe = lambda *a: ready.set()
        c.on_message = self._on_message
        c.connect("127.0.0.1", port)
        c.loop_start()
        self.client = c
        if not ready.wait(10):
            raise TimeoutError("wire counter")

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        device = msg.topic.split("/")[1]
        remaining = 2 + len(msg.topic.encode()) + len(msg.payload)  # QoS 0: no packet id
        size = 1 + _varint_len(remaining) + remaining
        with self.lock:
            self.bytes[device] = self.bytes.get(device, 0) + size
            if msg.topic.endswith("/data"):
                self.chunks[device] = self.chunks.get(device, 0) + 1

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _varint_len(n: int) -> int:
    return 1 if n < 128 else 2 if n < 16384 else 3


def _download_heap(console: str) -> tuple[int, int]:
    """(heap high-water, lowest free heap) over the stats lines of the boot that downloaded (boot 1)."""
    peak, low = 0, 1 << 30
    for _, fields in STATS.findall(console):
        stats = dict(kv.split("=") for kv in fields.split())
        if stats["boot"] == "1":
            peak = max(peak, int(stats["heap_peak"]))
            low = min(low, int(stats["heap_free"]))
    return peak, low


def _one(root: Path, influx: InfluxDB, db: str, n: int) -> dict[str, Any]:
    with chain(root, influx, db, devices=n, acl=False) as c:
        c.start_ingest(**TICK)
        # Any login reads any topic on a broker without ACL.
        wire = WireCount(c.broker.port, "dev-1", c.passwords["dev-1"])
        boards = start_running(c, n, **BOARD)
        ids = [m.device_id for m in boards]
        wait_until(lambda: all(device(c, d).get("fw") == "0.1.0" for d in ids), 120, "boards online")
        files = app_files()
        publish_bundle(c, "0.2.0", files)
        started = time.monotonic()
        rid = roll_out(c, "0.2.0", ids, canary=1, wave="100%")
        canary_s = _wait_healthy(c, rid, ["dev-1"], started)
        all_s = _wait_healthy(c, rid, ids, started)
        wire.close()
        heaps = [_download_heap(m.board.console()) for m in boards]
        size = sum(len(b) for b in files.values())
        per_board = sum(wire.bytes.values()) / n
        return {
            "boards": n,
            "bundle_bytes": size,
            "files": len(files),
            "canary_healthy_s": round(canary_s, 1),
            "all_healthy_s": round(all_s, 1),
            "wire_bytes_per_board": round(per_board),
            "chunks_per_board": round(sum(wire.chunks.values()) / n, 1),
            "overhead_pct": round(100 * (per_board - size) / size, 1),
            "heap_peak_max": max(p for p, _ in heaps),
            "heap_free_min": min(f for _, f in heaps),
        }


def _wait_healthy(c: Chain, rollout_id: int, devices: list[str], started: float) -> float:
    def healthy() -> bool:
        state, members = rollout_state(c, rollout_id)
        assert state not in (RolloutState.HALTED,), members
        return all(members[d] == "healthy" for d in devices)

    wait_until(healthy, 600, "boards healthy")
    return time.monotonic() - started


def run() -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="bench-ota-") as tmp:
        root = Path(tmp)
        influx = InfluxDB(root / "influxdb")
        influx.start()
        try:
            rows = []
            for n in FLEETS:
                db = f"ota{n}"
                influx.create_database(db)
                rows.append(_one(root / db, influx, db, n))
        finally:
            influx.close()
    return rows
