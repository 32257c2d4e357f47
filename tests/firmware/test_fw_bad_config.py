"""A bad config.json: a clear message on the console, an error status when MQTT settings are
usable, and on the unix port an exit with code 2 (no restart loop)."""

from __future__ import annotations

import json
from collections.abc import Callable

from support.boards import Board, board_config

from support.mosquitto import Mosquitto
from support.mqtt import Recorder


def test_invalid_json_is_reported_and_exits_2(board_factory: Callable[..., Board]) -> None:
    board = board_factory('{"device_id": "dev-1", ')
    assert board.wait_exit(20) == 2
    out = board.console()
    assert "CONFIG ERROR: config.json is not valid JSON" in out
    assert "no restart loop" in out and "Traceback" not in out
    assert out.count("CONFIG ERROR") == 1


def test_missing_config_is_reported(board_factory: Callable[..., Board]) -> None:
    board = board_factory(None)
    assert board.wait_exit(20) == 2
    assert "CONFIG ERROR: config.json not found" in board.console()


def test_bad_value_with_usable_mqtt_publishes_error_status(
    mosquitto: Mosquitto, board_factory: Callable[..., Board]
) -> None:
    cfg = board_config(mosquitto.port, interval_s="fast", batch_max=0)
    board = board_factory(cfg)
    assert board.wait_exit(20) == 2
    out = board.console()
    assert 'interval_s must be a number in [0.001, 86400] (got "fast")' in out
    assert "batch_max must be an integer in [1, 200] (got 0)" in out
    assert "Traceback" not in out
    rec = Recorder(mosquitto.port, ["sf/dev-1/status"])
    [m] = rec.wait_for(1)
    status = json.loads(m.payload)
    assert m.retain and status["online"] is False and "interval_s must be a number" in status["error"]
    rec.close()
