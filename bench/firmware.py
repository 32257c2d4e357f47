"""Firmware benchmark: one virtual board (the real firmware on the MicroPython unix port, heap
capped at 128K) against a real Mosquitto. Reports, per scenario: readings/s one board pushes,
MQTT bytes sent per reading (all packets the board wrote, birth and pings included; TCP/IP
headers not counted), telemetry payload bytes per reading, and the heap high-water mark.

Then flash wear: the board's flash a littlefs image with 4 KiB blocks as on an ESP32
(firmware/hal/flash.py), in real time at a reading every 1 s and every 10 s: block erases and
bytes programmed per reading with the firmware's default flash writes and with one write per
second (the old default), and the flash life that projects to for a 2 MiB filesystem whose blocks
last 100,000 erase cycles."""

from __future__ import annotations

import json
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tests.support.boards import STATS, Board, board_config, make_board_dir
from tests.support.mosquitto import Mosquitto, MosquittoOptions
from tests.support.procs import wait_until


class Counter:
    """Counts telemetry readings with their arrival times."""

    def __init__(self, port: int):
        # A persistent session on a broker with persistence: nothing is missed across its restart.
        self.lock = threading.Lock()
        self.arrivals: list[tuple[float, int, int]] = []  # (time, readings, payload bytes)
        self.ready = threading.Event()
        c = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id="bench", protocol=mqtt.MQTTv311, clean_session=False
        )
        c.reconnect_delay_set(0.1, 0.5)
        c.on_connect = lambda cl, *a: cl.subscribe("sf/+/telemetry", qos=1)
        c.on_subscribe = lambda *a: self.ready.set()
        c.on_message = self._on_message
        c.connect("127.0.0.1", port)
        c.loop_start()
        self.client = c
        if not self.ready.wait(10):
            raise TimeoutError("bench subscriber")

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        n = len(json.loads(msg.payload)["readings"])
        with self.lock:
            self.arrivals.append((time.monotonic(), n, len(msg.payload)))

    def readings(self) -> int:
        with self.lock:
            return sum(a[1] for a in self.arrivals)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def scenario(name: str, total: int, backlog: bool, **over: Any) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        broker = Mosquitto(Path(tmp) / "mosquitto", MosquittoOptions(persistence=True))
        broker.start()
        counter = Counter(broker.port)
        if backlog:
            broker.stop()
        cfg = board_config(broker.port, stop_after=total, log_s=0.1, status_s=60, **over)
        board = Board(make_board_dir(Path(tmp) / "board", cfg))
        board.start()
        marks: list[tuple[float, int]] = []  # (time, readings acknowledged) from the board's console
        try:
            if backlog:
                board.wait_stats(lambda s: s["samples"] >= total, 120, "the backlog")
                broker.start()
            while board.process.running():
                st = board.stats()
                if st.get("acked") and (not marks or marks[-1][1] != st["acked"]):
                    marks.append((time.monotonic(), st["acked"]))
                time.sleep(0.02)
            code = board.wait_exit(300)
            if code != 0:
                raise RuntimeError(f"board exited {code}:\n{board.console()[-2000:]}")
            wait_until(lambda: counter.readings() >= total, 60, "all readings")
        finally:
            board.kill()
            counter.close()
            broker.stop()
        st = board.stats()
        arr = counter.arrivals
        got = sum(a[1] for a in arr)
        # push rate: readings acknowledged per second while the board was sending
        first = next(m for m in marks if m[1] > 0)
        last = next(m for m in marks if m[1] >= st["acked"]) if marks[-1][1] >= st["acked"] else marks[-1]
        span = last[0] - first[0]
        rate = (last[1] - first[1]) / span if span > 0 else float("nan")
        return {
            "scenario": name,
            "readings": st["acked"],
            "received": got,
            "readings_per_s": round(rate),
            "mqtt_bytes_per_reading": round(st["bytes_out"] / max(1, st["acked"]), 1),
            "payload_bytes_per_reading": round(sum(a[2] for a in arr) / max(1, got), 1),
            "avg_batch": round(got / max(1, len(arr)), 1),
            "heap_peak_bytes": st["heap_peak"],
            "heap_cap_bytes": 128 * 1024,
        }


FS_BLOCKS = 2 * 1024 * 1024 // 4096
ERASE_CYCLES = 100_000
YEAR_S = 365 * 24 * 3600


def wear(name: str, interval_s: float, total: int, flush_ms: int | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        broker = Mosquitto(Path(tmp) / "mosquitto")
        broker.start()
        cfg = board_config(
            broker.port, interval_s=interval_s, stop_after=total, log_s=interval_s, status_s=60
        )
        if flush_ms is None:
            del cfg["flush_ms"]
        else:
            cfg["flush_ms"] = flush_ms
        board = Board(make_board_dir(Path(tmp) / "board", cfg), flash_kib=2048)
        board.start()
        try:
            code = board.wait_exit(total * interval_s + 120)
            if code != 0:
                raise RuntimeError(f"board exited {code}:\n{board.console()[-2000:]}")
        finally:
            board.kill()
            broker.stop()
        lines = [
            {k: int(v) for k, v in (kv.split("=") for kv in m[1].split())}
            for m in STATS.findall(board.console())
        ]
    final = lines[-1]
    # Steady state: from the first flash write of readings on, leaving out what this boot wrote before
    # (directories, boot counter), which a board in service spreads over days of readings.
    first = next(s for s in lines if s["flushed"] > 0)
    steady = (final["erases"] - first["erases"]) / (final["samples"] - first["samples"])
    years = FS_BLOCKS * ERASE_CYCLES / (steady * YEAR_S / interval_s) if steady else float("inf")
    return {
        "scenario": name,
        "interval_s": interval_s,
        "readings": total,
        "erases_per_reading": round(final["erases"] / total, 3),
        "erases_per_reading_steady": round(steady, 3),
        "bytes_programmed_per_reading": round(final["programmed"] / total),
        "flash_life_years_2MiB_100k": round(years, 1),
        "heap_peak_bytes": final["heap_peak"],
    }


def run() -> list[dict[str, Any]]:
    fast = {"interval_s": 0.001, "flush_ms": 100}
    big = {"outbox_kb": 1024}
    return [
        scenario("live, as fast as it samples, batch_max 20", 10_000, False, batch_max=20, **fast),
        scenario("live, as fast as it samples, batch_max 50", 10_000, False, batch_max=50, **fast),
        scenario("backlog replay after an outage, batch_max 20", 10_000, True, batch_max=20, **big, **fast),
        scenario("backlog replay after an outage, batch_max 50", 10_000, True, batch_max=50, **big, **fast),
        scenario("steady, every 0.1 s, batch_max 20", 300, False, interval_s=0.1, flush_ms=1000),
        wear("littlefs, default flash writes (16 readings each)", 1, 160, None),
        wear("littlefs, default flash writes (16 readings each)", 10, 48, None),
        wear("littlefs, a flash write every second (the old default)", 1, 32, 1000),
        wear("littlefs, a flash write every second (the old default)", 10, 12, 1000),
    ]
