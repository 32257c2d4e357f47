"""A virtual board (real firmware, real MicroPython, heap 128K) against a real Mosquitto."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from support.boards import Board, batches, board_config, seqs_by_boot

from support.mosquitto import Mosquitto
from support.mqtt import Recorder
from support.procs import wait_until

STATUS_KEYS = {
    "online",
    "fw",
    "boot",
    "uptime_s",
    "rssi",
    "heap_free",
    "outbox",
    "dropped",
    "reset_cause",
    "interval_s",
}


def test_board_publishes_consecutive_batches_and_retained_birth_and_will(
    mosquitto: Mosquitto, board_factory: Callable[..., Board]
) -> None:
    rec = Recorder(mosquitto.port, ["sf/dev-1/#"])
    t0 = time.time()
    board = board_factory(board_config(mosquitto.port))
    wait_until(lambda: len(batches(rec.snapshot())) >= 8, 20, "8 batches")
    board.kill()  # SIGKILL: no DISCONNECT, so the broker publishes the will
    wait_until(lambda: rec.snapshot()[-1].payload == b'{"online":false}', 20, "last will")
    msgs = rec.snapshot()
    tel = [m for m in msgs if m.topic == "sf/dev-1/telemetry"]
    assert all(m.qos == 1 and len(m.payload) <= 1024 for m in tel)
    bl = batches(msgs)
    got = seqs_by_boot(bl)
    assert list(got) == [1]
    distinct = sorted(set(got[1]))
    assert distinct == list(range(len(distinct)))  # consecutive from 0, nothing missing
    for b in bl:
        for r in b["readings"]:
            assert set(r) == {"ts", "temperature", "humidity"}
            assert t0 * 1000 - 1000 < r["ts"] < time.time() * 1000 + 1000
            assert 10 < r["temperature"] < 35 and 20 < r["humidity"] < 75
    ts = [r["ts"] for b in bl for r in b["readings"]]
    assert ts == sorted(ts)  # oldest first

    births = [json.loads(m.payload) for m in msgs if m.topic == "sf/dev-1/status" and b"true" in m.payload]
    assert births and set(births[0]) >= STATUS_KEYS
    assert (
        births[0]["boot"] == 1 and births[0]["reset_cause"] == "power_on" and births[0]["interval_s"] == 0.05
    )
    # the status a newcomer sees is retained: the will, now that the board is gone
    late = Recorder(mosquitto.port, ["sf/dev-1/status"])
    [m] = late.wait_for(1)
    assert m.retain and m.payload == b'{"online":false}'
    late.close()
    rec.close()


def test_birth_is_retained_while_the_board_runs(
    mosquitto: Mosquitto, board_factory: Callable[..., Board]
) -> None:
    live = Recorder(mosquitto.port, ["sf/dev-1/status"])
    board_factory(board_config(mosquitto.port, interval_s=1))
    live.wait_for(1, 20)  # delivered live (retain flag clear) ...
    rec = Recorder(mosquitto.port, ["sf/dev-1/status"])  # ... and kept for newcomers
    wait_until(lambda: any(m.retain for m in rec.snapshot()), 20, "retained birth")
    birth = json.loads(next(m for m in rec.snapshot() if m.retain).payload)
    assert birth["online"] is True and birth["fw"] and birth["outbox"] >= 0 and birth["dropped"] == 0
    assert 0 < birth["heap_free"] < 128 * 1024 and birth["rssi"] is None
    rec.close()
    live.close()


def test_unsynced_board_sends_age(mosquitto: Mosquitto, board_factory: Callable[..., Board]) -> None:
    rec = Recorder(mosquitto.port, ["sf/dev-1/telemetry"])
    board_factory(board_config(mosquitto.port, clock_delay_s=-1, flush_ms=300))
    wait_until(lambda: len(batches(rec.snapshot())) >= 3, 20, "3 batches")
    for b in batches(rec.snapshot()):
        for r in b["readings"]:
            assert "ts" not in r and 0 <= r["age"] < 5000, r
    rec.close()
