"""The boot guard on a virtual board: a firmware that raises at import, in App() or with a
MemoryError is logged to flash, counted and reset; three crash boots in a row give safe mode, which
connects and answers commands; a maintenance flag keeps the firmware and the watchdog from starting."""

from __future__ import annotations

import json
from collections.abc import Callable

from support.boards import FIRMWARE, Board, board_config

from support.mosquitto import Mosquitto
from support.mqtt import Recorder
from support.procs import wait_until

CRASH_EXIT = 3  # the unix HAL's crash_reset(): the process ends, the test boots it again


def crashes(board: Board) -> dict[str, object]:
    result: dict[str, object] = json.loads((board.dir / "crash.json").read_text())
    return result


def boot_until_exit(board: Board) -> int:
    board.start()
    return board.wait_exit(30)


def test_import_crash_is_counted_then_safe_mode_answers_commands_and_reboot_leaves_it(
    mosquitto: Mosquitto, board_factory: Callable[..., Board]
) -> None:
    board = board_factory(board_config(mosquitto.port), start=False)
    # A source module beside the deployed .mpy is imported instead of it.
    app = board.dir / "sensorfleet" / "app.py"
    good = (FIRMWARE / "sensorfleet" / "app.py").read_text()
    app.write_text('raise MemoryError("memory allocation failed, allocating 4096 bytes")\n' + good)
    for n in (1, 2, 3):
        assert boot_until_exit(board) == CRASH_EXIT
        c = crashes(board)
        assert c["n"] == n and c["total"] == n and "MemoryError: memory allocation failed" in str(c["last"])
    assert "CRASH (3 in a row, 3 in all), resetting in 0 s:" in board.console()

    rec = Recorder(mosquitto.port, ["sf/dev-1/status", "sf/dev-1/cmd/result", "sf/dev-1/telemetry"])
    board.start()
    wait_until(lambda: any(b"safe_mode" in m.payload for m in rec.snapshot()), 20, "safe mode status")
    st = json.loads(next(m.payload for m in rec.snapshot() if b"safe_mode" in m.payload))
    assert st["online"] is True and st["safe_mode"] is True and st["crash_boots"] == 3
    assert "MemoryError" in st["last_crash"]
    rec.publish("sf/dev-1/cmd", json.dumps({"id": "p1", "op": "ping"}))
    rec.publish("sf/dev-1/cmd", json.dumps({"id": "s1", "op": "set", "args": {"interval_s": 1}}))
    wait_until(lambda: len([m for m in rec.snapshot() if m.topic.endswith("/result")]) >= 2, 20, "results")
    res = [json.loads(m.payload) for m in rec.snapshot() if m.topic.endswith("/result")]
    assert res[0] == {"id": "p1", "ok": True, "result": {"pong": True, "safe_mode": True}}
    assert res[1]["ok"] is False and "safe mode" in res[1]["error"]

    app.unlink()  # the fix arrives (over USB here)
    rec.publish("sf/dev-1/cmd", json.dumps({"id": "r1", "op": "reboot"}))
    # a reboot leaves safe mode with a fresh streak (the unix port boots again in-process)
    wait_until(lambda: any(m.topic.endswith("/telemetry") for m in rec.snapshot()), 20, "readings")
    assert crashes(board) == {"n": 0, "total": 3, "last": crashes(board)["last"]}
    rec.close()


def test_a_crash_in_app_construction_resets_and_a_healthy_boot_clears_the_streak(
    mosquitto: Mosquitto, board_factory: Callable[..., Board]
) -> None:
    board = board_factory(board_config(mosquitto.port), start=False)
    sensors = board.dir / "sensorfleet" / "sensors.py"
    good = (FIRMWARE / "sensorfleet" / "sensors.py").read_text()
    sensors.write_text(good + '\n\ndef build(cfg, hal, device_id):\n    raise OSError(28, "ENOSPC")\n')
    assert boot_until_exit(board) == CRASH_EXIT
    last = str(crashes(board)["last"])
    assert crashes(board)["n"] == 1 and "in build\nOSError: (28, 'ENOSPC')" in last, last
    sensors.unlink()
    board.start()
    wait_until(lambda: crashes(board)["n"] == 0, 20, "crash streak cleared once readings are acknowledged")


def test_maintenance_flag_starts_neither_firmware_nor_watchdog(board_factory: Callable[..., Board]) -> None:
    board = board_factory(board_config(1), start=False)
    (board.dir / "maint").write_text("usb")
    assert boot_until_exit(board) == 0
    assert "maintenance: ./maint is present" in board.console()
    assert not (board.dir / "data").exists()  # not even the boot counter moved


def test_maint_command_reboots_into_maintenance(
    mosquitto: Mosquitto, board_factory: Callable[..., Board]
) -> None:
    rec = Recorder(mosquitto.port, ["sf/dev-1/cmd/result"])
    board = board_factory(board_config(mosquitto.port))
    board.wait_console(r"mqtt: connected", 20)
    rec.publish("sf/dev-1/cmd", json.dumps({"id": "m1", "op": "maint"}))
    assert board.wait_exit(20) == 0
    assert (board.dir / "maint").exists()
    assert "maintenance: ./maint is present" in board.console()
    [r] = rec.wait_for(1)
    assert json.loads(r.payload) == {
        "id": "m1",
        "ok": True,
        "result": {"rebooting": True, "maintenance": True},
    }
    rec.close()


def test_a_hal_that_does_not_import_is_a_counted_crash_too(board_factory: Callable[..., Board]) -> None:
    board = board_factory(board_config(1), start=False)
    hal = board.dir / "hal" / "unix.py"
    hal.write_text("raise ImportError(\"no module named 'machine'\")\n" + (FIRMWARE / "hal" / "unix.py").read_text())
    assert boot_until_exit(board) == CRASH_EXIT
    assert crashes(board)["n"] == 1 and "ImportError" in str(crashes(board)["last"])
    assert "CRASH (1 in a row, 1 in all), resetting in 0 s:" in board.console()
