"""A whole board on the ESP32 HAL: the boot guard, hal/esp32.py and the app on the unix port, with the
port's machine/network/esp32 emulated (mp/esp32port/) and a real Mosquitto. The chip's reset is the
process ending (exit 99) and the test booting it again."""

from __future__ import annotations

import json
from collections.abc import Callable

from support.boards import MP_TESTS, Board, board_config

from support.mosquitto import Mosquitto
from support.mqtt import Recorder
from support.procs import wait_until

RESET_EXIT = 99
ENTRY = f"""import sys
sys.path.insert(0, {str(MP_TESTS / "esp32port")!r})
import safeboot
from hal.esp32 import Hal
safeboot._hal = Hal  # as sys.platform == "esp32" would pick it
safeboot.run()
"""


def births(rec: Recorder) -> list[dict[str, object]]:
    return [json.loads(m.payload) for m in rec.snapshot() if b'"online": true' in m.payload]


def test_esp32_board_publishes_and_tells_its_own_reboot_from_a_power_on(
    mosquitto: Mosquitto, board_factory: Callable[..., Board]
) -> None:
    cfg = board_config(mosquitto.port, wifi={"ssid": "lab", "password": "x"}, ntp_host="127.0.0.1", wdt_s=30)
    board = board_factory(cfg, start=False, entry="esp32main.py")
    (board.dir / "esp32main.py").write_text(ENTRY)
    rec = Recorder(mosquitto.port, ["sf/dev-1/status", "sf/dev-1/cmd/result", "sf/dev-1/telemetry"])
    board.start()
    wait_until(lambda: len(births(rec)) >= 1, 20, "birth")
    b = births(rec)[0]
    assert (b["hal"], b["rssi"], b["reset_cause"], b["boot"]) == ("esp32", -61, "power_on", 1)
    wait_until(lambda: any(m.topic.endswith("/telemetry") for m in rec.snapshot()), 20, "readings")
    assert "wifi: connected, 192.0.2.50" in board.console()
    state = json.loads((board.dir / "esp32port.json").read_text())
    assert state["wdt_starts"] == 1

    rec.publish("sf/dev-1/cmd", json.dumps({"id": "r1", "op": "reboot"}))
    assert board.wait_exit(20) == RESET_EXIT
    board.start()  # the chip boots again
    wait_until(lambda: len(births(rec)) >= 2, 20, "birth after the reboot")
    b = births(rec)[-1]
    assert (b["reset_cause"], b["boot"]) == ("reboot", 2)  # the port itself says HARD_RESET
    rec.close()
