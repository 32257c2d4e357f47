"""The real firmware as virtual boards: `device simulate`, and a deploy that ends with a birth."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from provision_kit import ReplBridge, connect_code
from typer.testing import CliRunner

from ingest.provision.broker_files import write_broker_files
from ingest.provision.cli import device_app
from ingest.provision.ids import INGEST_USERNAME
from ingest.provision.inventory import Inventory
from ingest.provision.virtual import SIM_SENSOR_SETS, build_fleet
from ingest.state.migrate import open_state
from support.micropython import run_snippet
from support.mosquitto import Mosquitto, MosquittoOptions
from support.mqtt import Recorder
from support.procs import wait_until
from support.serve import SENSORFLEET


def metrics_by_device(recorder: Recorder) -> dict[str, set[str]]:
    seen: dict[str, set[str]] = {}
    for message in recorder.snapshot():
        _, device, kind = message.topic.split("/", 2)
        if kind == "telemetry":
            for reading in json.loads(message.payload)["readings"]:
                seen.setdefault(device, set()).update(k for k in reading if k != "ts")
    return seen


def test_simulate_runs_boards_with_different_sensors_and_stops_them(
    tmp_path: Path, mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO")
    recorder = Recorder(mosquitto.port, ["sf/+/telemetry"])
    try:
        result = CliRunner().invoke(
            device_app,
            ["simulate", "3", "--mqtt-port", str(mosquitto.port), "--interval", "0.1", "--duration", "8",
             "--data-dir", str(tmp_path)],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        seen = metrics_by_device(recorder)
    finally:
        recorder.close()
    assert seen == {f"sim-{i + 1}": set(SIM_SENSOR_SETS[i]) for i in range(3)}
    pids = [int(pid) for pid in re.findall(r"virtual board sim-\d: pid (\d+)", caplog.text)]
    assert len(pids) == 3
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert (tmp_path / "virtual-boards/sim-2/config.json").exists()


def test_a_fleet_keeps_its_flash_across_restarts(tmp_path: Path, mosquitto: Mosquitto) -> None:
    recorder = Recorder(mosquitto.port, ["sf/+/status"])
    try:
        for boot in (1, 2):
            fleet = build_fleet(tmp_path, 2, "127.0.0.1", mosquitto.port, "sf", 0.5)
            with fleet:
                wait_until(lambda n=boot: len(births(recorder)) >= 2 * n, 30, f"boot {boot} births")
            assert all(not member.board.running() for member in fleet.boards)
        assert sorted((b["device"], b["boot"]) for b in births(recorder)) == [
            ("sim-1", 1), ("sim-1", 2), ("sim-2", 1), ("sim-2", 2)
        ]  # fmt: skip
    finally:
        recorder.close()


def births(recorder: Recorder) -> list[dict[str, object]]:
    found = []
    for message in recorder.snapshot():
        status = json.loads(message.payload)
        if status.get("online") is True:
            found.append({"device": message.topic.split("/")[1], "boot": status["boot"]})
    return found


def test_deploy_then_the_board_boots_and_publishes_through_the_acl(
    tmp_path: Path, repl_bridge: ReplBridge, mosquitto_factory: Callable[..., Mosquitto]
) -> None:
    data = tmp_path / "data"
    files = write_broker_files(Inventory(open_state(data)), data, "sf")
    extra = f"allow_anonymous false\npassword_file {files.passwd}\nacl_file {files.acl}\n"
    broker = mosquitto_factory(MosquittoOptions(extra=extra))
    runner = CliRunner()
    added = runner.invoke(
        device_app,
        ["add", "dev-1", "--broker-port", str(broker.port), "--interval", "0.2", "--data-dir", str(data)],
    )
    assert added.exit_code == 0, added.output
    broker.process.signal(signal.SIGHUP)  # as `device add` tells the operator to do
    inventory = Inventory(open_state(data))
    ingest_password = inventory.login(INGEST_USERNAME).password
    password = inventory.get("dev-1").config["mqtt"]["password"]
    wait_until(
        lambda: connect_code(broker.port, "dev-1", password) == 0, 10, "the broker to reload its logins"
    )
    recorder = Recorder(broker.port, ["sf/#"], username=INGEST_USERNAME, password=ingest_password)
    repl_bridge.boot_after_reset()
    try:
        deployed = runner.invoke(
            device_app,
            ["deploy", "dev-1", "--port", repl_bridge.url, "--birth-timeout", "60", "--data-dir", str(data)],
        )
        assert deployed.exit_code == 0, deployed.output
        assert "dev-1 is online" in deployed.stdout
        # The unix port's board gets the unix profile: its HAL, never the ESP32's nor a test fake.
        # Compiled but for the boot stub.
        on_board = {p.relative_to(repl_bridge.fsdir).as_posix() for p in repl_bridge.fsdir.rglob("*.*py")}
        assert "hal/unix.mpy" in on_board and "hal/esp32.mpy" not in on_board
        assert "sensorfleet/transport_fake.mpy" not in on_board and "manifest.mpy" not in on_board
        assert {p for p in on_board if p.endswith(".py")} == {"main.py", "safeboot.py", "safeswap.py"}
        assert repl_bridge.booted is not None and repl_bridge.booted.process.running()
        wait_until(lambda: "dev-1" in metrics_by_device(recorder), 30, "telemetry from the deployed board")
    finally:
        recorder.close()
    assert metrics_by_device(recorder)["dev-1"] == {"temperature", "humidity"}
    assert {m.topic.split("/")[1] for m in recorder.snapshot()} == {"dev-1"}


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "kill"])
def test_simulate_stops_its_boards_when_stopped(tmp_path: Path, mosquitto: Mosquitto, stop: int) -> None:
    log = tmp_path / "simulate.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [SENSORFLEET, "device", "simulate", "2",
             "--mqtt-port", str(mosquitto.port), "--data-dir", str(tmp_path)],
            stdout=out,
            stderr=subprocess.STDOUT,
            # As from a terminal: SIGINT not ignored, whatever this test runner inherited.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )  # fmt: skip
    try:
        wait_until(lambda: "Ctrl-C stops them" in log.read_text(), 60, "the boards to start")
        pids = [int(pid) for pid in re.findall(r"virtual board sim-\d: pid (\d+)", log.read_text())]
        assert len(pids) == 2
        for pid in pids:
            os.kill(pid, 0)  # running
        proc.send_signal(stop)
        assert proc.wait(30) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert "stopping the virtual boards" in log.read_text()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_simulate_on_littlefs_flash_keeps_the_outbox_in_the_image(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    recorder = Recorder(mosquitto.port, ["sf/+/telemetry"])
    try:
        result = CliRunner().invoke(
            device_app,
            ["simulate", "1", "--flash", "littlefs", "--mqtt-port", str(mosquitto.port), "--interval", "0.05",
             "--duration", "6", "--data-dir", str(tmp_path)],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        seen = metrics_by_device(recorder)
    finally:
        recorder.close()
    assert seen == {"sim-1": set(SIM_SENSOR_SETS[0])}
    board = tmp_path / "virtual-boards/sim-1"
    assert (board / "flash.img").stat().st_size == 2048 * 1024
    assert not (board / "data").exists(), "the outbox lives in the image, not in the directory"
    inside = run_snippet(
        "import vfs, os, hal.flash\n"
        "vfs.mount(vfs.VfsLfs2(hal.flash.FileBlockDevice('flash.img', 512)), '/f')\n"
        "print(repr((open('/f/data/boot').read(), 'ob' in os.listdir('/f/data'))))",
        cwd=board,
    )
    assert inside.strip() == "('1', True)", inside


def test_an_unknown_flash_kind_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        device_app, ["simulate", "1", "--flash", "sdcard", "--duration", "1", "--data-dir", str(tmp_path)]
    )
    assert result.exit_code == 1 and "flash must be one of dir, littlefs, not 'sdcard'" in result.output
