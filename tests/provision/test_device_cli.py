"""`sensorfleet device ...` as a user runs it: exit codes, one-line errors, files written."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from provision_kit import ReplBridge, connect_code, firmware, run_board
from typer.testing import CliRunner

from ingest.errors import DeviceError
from ingest.provision import virtual
from ingest.provision.boardconfig import MASK
from ingest.provision.cli import device_app
from ingest.provision.passwd import verify_password
from ingest.registry import Registry
from ingest.state.migrate import open_state
from support.mosquitto import Mosquitto, MosquittoOptions
from support.procs import free_port, wait_until
from support.serve import SENSORFLEET


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(device_app, list(args))
    return result.exit_code, result.stdout, result.stderr


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    return lines[0]


def test_add_list_config_remove(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    code, out, err = cli(
        "add", "dev-1", "--site", "greenhouse", "--sensor", "bme280:bus=i2c0,addr=0x76",
        "--interval", "30", "--wifi-ssid", "lab", "--wifi-password", "wifi-secret",
        "--broker-host", "10.0.0.2", "--data-dir", data,
    )  # fmt: skip
    assert code == 0, err
    assert "added dev-1" in out
    code, out, _ = cli("add", "dev-2", "--data-dir", data)
    assert code == 0

    code, out, _ = cli("list", "--data-dir", data)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "TAGS", "BROKER", "INTERVAL", "SENSORS", "ADDED"]
    assert lines[1].split()[:5] == ["dev-1", "site=greenhouse", "10.0.0.2:1883", "30.0s", "bme280"]
    assert lines[2].split()[:4] == ["dev-2", "127.0.0.1:1883", "10s", "sim"]

    code, out, _ = cli("config", "dev-1", "--data-dir", data)
    shown = json.loads(out)
    assert shown["mqtt"]["password"] == MASK and shown["wifi"]["password"] == MASK
    assert "wifi-secret" not in out
    code, out, _ = cli("config", "dev-1", "--show-secrets", "--data-dir", data)
    config = json.loads(out)
    assert config["wifi"]["password"] == "wifi-secret"
    assert config["sensors"] == [{"type": "bme280", "bus": "i2c0", "addr": 118}]
    passwd = dict(line.split(":", 1) for line in (tmp_path / "data/broker/passwd").read_text().splitlines())
    assert set(passwd) == {"sensorfleet-ingest", "dev-1", "dev-2"}
    assert verify_password(config["mqtt"]["password"], passwd["dev-1"])
    assert oct((tmp_path / "data/state.sqlite").stat().st_mode & 0o777) == "0o600"

    broker_passwd = tmp_path / "data/broker/passwd"
    assert broker_passwd.stat().st_mode & 0o777 == 0o600
    broker_passwd.chmod(0o640)  # opened to the broker's group by the operator: kept on rewrite

    assert cli("remove", "dev-2", "--data-dir", data)[0] == 0
    assert broker_passwd.stat().st_mode & 0o777 == 0o640
    assert "dev-2:" not in (tmp_path / "data/broker/passwd").read_text()
    assert "dev-2" not in cli("list", "--data-dir", data)[1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["add", "Dev-1"], "device id 'Dev-1' not allowed"),
        (["add", "sensorfleet-ingest"], "reserved for the ingest service"),
        (["add", "dev-1", "--interval", "0"], "interval_s must be a number above 0"),
        (["add", "dev-1", "--sensor", "bme280:addr"], "expected key=value"),
        (["config", "nope"], "device 'nope' is not provisioned"),
        (["deploy", "nope", "--port", "/dev/ttyNOSUCH"], "device 'nope' is not provisioned"),
        (["flash", "--port", "/dev/ttyNOSUCH", "--image", "missing.bin"], "image missing.bin not found"),
    ],
)
def test_bad_input_is_one_line_and_non_zero(tmp_path: Path, args: list[str], message: str) -> None:
    code, _, err = cli(*args, "--data-dir", str(tmp_path)) if args[0] != "flash" else cli(*args)
    assert code == 1
    assert message in one_error_line(err)


def ingest_tags(data_dir: Path, device: str) -> dict[str, str]:
    state = open_state(data_dir)
    try:
        return dict(Registry(state).tags_for(device))
    finally:
        state.close()


def test_tags_set_replace_remove_and_listed(tmp_path: Path) -> None:
    data = str(tmp_path)
    code, out, err = cli("add", "dev-1", "--site", "gh-2", "--tag", "zone=north", "--data-dir", data)
    assert code == 0, err
    assert "added dev-1 with tags site=gh-2,zone=north" in out
    assert ingest_tags(tmp_path, "dev-1") == {"site": "gh-2", "zone": "north"}

    code, out, err = cli("tag", "dev-1", "rack=7", "room=A 1", "--remove", "zone", "--data-dir", data)
    assert (code, out) == (0, "dev-1: rack=7,room=A 1,site=gh-2\n"), err
    assert cli("tag", "dev-1", "--data-dir", data)[1] == "dev-1: rack=7,room=A 1,site=gh-2\n"
    assert cli("tag", "dev-1", "site=lab", "--replace", "--data-dir", data)[1] == "dev-1: site=lab\n"
    assert cli("list", "--data-dir", data)[1].splitlines()[1].split()[:2] == ["dev-1", "site=lab"]

    assert cli("remove", "dev-1", "--data-dir", data)[0] == 0
    assert ingest_tags(tmp_path, "dev-1") == {}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["tag", "dev-1", "zone=south", "site"], "expected key=value, got 'site'"),
        (["tag", "dev-1", "zone=south", "device=x"], "tag key 'device' is reserved"),
        (["tag", "dev-1", "zone=south", "2nd=x"], "invalid tag key '2nd'"),
        (["tag", "dev-1", "zone=south", "site="], "tag 'site': the value must have 1 to 128"),
        (["tag", "dev-1", "zone=south", "--remove", "time"], "tag key 'time' is reserved"),
        (["tag", "dev-1", "zone=south", "zone=east"], "tag 'zone' is given twice"),
        (["tag", "Dev 1", "zone=south"], "invalid device id 'Dev 1'"),
        (["add", "dev-2", "--tag", "site"], "expected key=value, got 'site'"),
    ],
)
def test_bad_tags_are_one_line_and_change_nothing(tmp_path: Path, args: list[str], message: str) -> None:
    assert cli("add", "dev-1", "--tag", "site=gh", "--data-dir", str(tmp_path))[0] == 0
    code, _, err = cli(*args, "--data-dir", str(tmp_path))
    assert code == 1
    assert message in one_error_line(err)
    assert ingest_tags(tmp_path, "dev-1") == {"site": "gh"}
    assert "dev-2" not in cli("list", "--data-dir", str(tmp_path))[1]


def test_a_second_add_of_the_same_id_is_refused(tmp_path: Path) -> None:
    assert cli("add", "dev-1", "--data-dir", str(tmp_path))[0] == 0
    code, _, err = cli("add", "dev-1", "--data-dir", str(tmp_path))
    assert code == 1 and "already provisioned" in one_error_line(err)


def test_flash_to_a_port_that_does_not_exist(tmp_path: Path) -> None:
    image = tmp_path / "micropython.bin"
    image.write_bytes(b"\xe9" + bytes(1023))
    code, _, err = cli("flash", "--port", "/dev/ttyNOSUCH", "--image", str(image))
    assert code == 1
    assert one_error_line(err).startswith("error: cannot flash /dev/ttyNOSUCH: Could not open /dev/ttyNOSUCH")


def test_flash_with_no_chip_answering(tmp_path: Path, silent_port: int) -> None:
    image = tmp_path / "micropython.bin"
    image.write_bytes(b"\xe9" + bytes(1023))
    port = f"socket://127.0.0.1:{silent_port}"
    code, _, err = cli("flash", "--port", port, "--image", str(image))
    assert code == 1
    assert (
        one_error_line(err)
        == f"error: cannot flash {port}: Failed to connect to Espressif device: No serial data received."
    )


def test_deploy_to_nothing_is_one_line(tmp_path: Path) -> None:
    data = str(tmp_path)
    assert cli("add", "dev-1", "--data-dir", data)[0] == 0
    fw = firmware(tmp_path / "fw", "1.0")
    port = f"socket://127.0.0.1:{free_port()}"
    code, _, err = cli("deploy", "dev-1", "--port", port, "--firmware", str(fw), "--data-dir", data)
    assert code == 1 and f"cannot open {port}" in one_error_line(err)


def test_deploy_resets_the_board_and_skips_the_birth_without_a_broker(
    tmp_path: Path, repl_bridge: ReplBridge, caplog: pytest.LogCaptureFixture
) -> None:
    data = str(tmp_path / "data")
    assert cli("add", "dev-1", "--broker-port", str(free_port()), "--data-dir", data)[0] == 0
    fw = firmware(tmp_path / "fw", "1.0")
    code, out, err = cli(
        "deploy", "dev-1", "--port", repl_bridge.url, "--firmware", str(fw), "--data-dir", data
    )
    assert code == 0, err
    assert "sha256 verified on the board" in out
    assert "not reachable" in caplog.text
    # The reset ends a unix-port board, as it would restart a real one.
    wait_until(repl_bridge.idle, 10, "the board to reset")
    assert repl_bridge.reset_seen()
    assert run_board(repl_bridge.fsdir) == "firmware 1.0 dev-1"


def test_the_installed_command(tmp_path: Path) -> None:
    result = subprocess.run(
        [SENSORFLEET, "device", "add", "../etc", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "not allowed" in one_error_line(result.stderr)
    assert not (tmp_path / "broker/passwd").exists() or "etc" not in (tmp_path / "broker/passwd").read_text()


def test_no_micropython_is_said_clearly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(DeviceError, match=r"no `micropython` binary: neither next to .* nor on PATH"):
        virtual.micropython_binary()
    fake = tmp_path / "micropython"
    fake.write_text("#!/bin/sh\n")
    os.chmod(fake, 0o755)
    assert virtual.micropython_binary() == str(fake)


def test_ingest_url_logs_in_to_the_locked_broker(
    tmp_path: Path, mosquitto_factory: Callable[..., Mosquitto]
) -> None:
    data = str(tmp_path / "data")
    code, out, err = cli("ingest-url", "--broker-port", "1999", "--data-dir", data)
    assert code == 0, err
    found = re.fullmatch(r"mqtt://sensorfleet-ingest:([A-Za-z0-9_-]{32})@127\.0\.0\.1:1999\n", out)
    assert found, out
    broker_dir = tmp_path / "data/broker"
    extra = f"allow_anonymous false\npassword_file {broker_dir}/passwd\nacl_file {broker_dir}/acl\n"
    broker = mosquitto_factory(MosquittoOptions(extra=extra))
    assert connect_code(broker.port, "sensorfleet-ingest", found[1]) == 0
    assert cli("ingest-url", "--data-dir", data)[1].split("@")[0] == out.split("@")[0], "the login is stable"


def test_deploy_compiled_without_reset(tmp_path: Path, repl_bridge: ReplBridge) -> None:
    data = str(tmp_path / "data")
    assert cli("add", "dev-1", "--data-dir", data)[0] == 0
    fw = firmware(tmp_path / "fw", "2.0")
    code, out, err = cli(
        "deploy", "dev-1", "--port", repl_bridge.url, "--compile", "--no-reset", "--firmware", str(fw),
        "--data-dir", data,
    )  # fmt: skip
    assert code == 0, err
    assert "is online" not in out
    wait_until(repl_bridge.idle, 10, "the bridge to end the session")
    assert not repl_bridge.reset_seen()
    assert (repl_bridge.fsdir / "app/version.mpy").exists()
    assert not (repl_bridge.fsdir / "app/version.py").exists()
    assert run_board(repl_bridge.fsdir) == "firmware 2.0 dev-1"
