"""Commands through a real broker: ping, set, flush, reboot; results on cmd/result; idempotent by id."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from support.boards import Board, board_config

from support.mosquitto import Mosquitto
from support.mqtt import Recorder, settle
from support.procs import wait_until


def results(rec: Recorder) -> list[dict[str, Any]]:
    return [json.loads(m.payload) for m in rec.snapshot() if m.topic == "sf/dev-1/cmd/result"]


def births(rec: Recorder) -> list[dict[str, Any]]:
    out = []
    for m in rec.snapshot():
        if m.topic == "sf/dev-1/status":
            d = json.loads(m.payload)
            if d.get("online"):
                out.append(d)
    return out


def send(rec: Recorder, cmd: dict[str, Any], n: int) -> dict[str, Any]:
    rec.publish("sf/dev-1/cmd", json.dumps(cmd), qos=1)
    wait_until(lambda: len(results(rec)) >= n, 15, f"result {n} for {cmd}")
    return results(rec)[n - 1]


def test_commands_through_the_broker(mosquitto: Mosquitto, board_factory: Callable[..., Board]) -> None:
    rec = Recorder(mosquitto.port, ["sf/dev-1/cmd/result", "sf/dev-1/status", "sf/dev-1/telemetry"])
    board = board_factory(board_config(mosquitto.port, interval_s=1, flush_ms=100))
    wait_until(lambda: births(rec), 20, "birth")

    r = send(rec, {"id": "c1", "op": "ping"}, 1)
    assert r["id"] == "c1" and r["ok"] is True and r["result"]["pong"] is True and r["result"]["boot"] == 1

    r = send(rec, {"id": "c2", "op": "set", "args": {"interval_s": 0.25, "batch_max": 10}}, 2)
    assert r == {"id": "c2", "ok": True, "result": {"interval_s": 0.25, "batch_max": 10}}
    wait_until(lambda: births(rec)[-1]["interval_s"] == 0.25, 10, "status with the new interval")
    assert board.config_on_flash()["interval_s"] == 0.25  # persisted to flash

    # the same id again, with other args: the remembered result, nothing executed
    r = send(rec, {"id": "c2", "op": "set", "args": {"interval_s": 5}}, 3)
    assert r == {"id": "c2", "ok": True, "result": {"interval_s": 0.25, "batch_max": 10}}
    assert board.config_on_flash()["interval_s"] == 0.25

    r = send(rec, {"id": "c3", "op": "set", "args": {"interval_s": -1}}, 4)
    assert r["ok"] is False and "interval_s" in r["error"]
    r = send(rec, {"id": "c4", "op": "warp"}, 5)
    assert r == {"id": "c4", "ok": False, "error": 'unknown op "warp" (ping, set, flush, reboot, maint, ota)'}
    r = send(rec, {"id": "c5", "op": "flush"}, 6)
    assert r["ok"] is True and r["result"]["outbox"] >= 0

    r = send(rec, {"id": "c6", "op": "reboot"}, 7)
    assert r == {"id": "c6", "ok": True, "result": {"rebooting": True}}
    wait_until(lambda: births(rec)[-1]["boot"] == 2, 20, "birth of boot 2")
    b = births(rec)[-1]
    assert b["reset_cause"] == "reboot" and b["interval_s"] == 0.25  # the setting survived the reboot

    # a repeated reboot id (e.g. redelivered) does not reboot again
    r = send(rec, {"id": "c6", "op": "reboot"}, 8)
    assert r == {"id": "c6", "ok": True, "result": {"rebooting": True}}
    settle(2.0)
    assert births(rec)[-1]["boot"] == 2
    assert board.process.running()
    rec.close()
