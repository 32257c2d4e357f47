"""A deploy keeps the board in maintenance while it works (the flag `maint` on the board: neither the
firmware nor its watchdog starts after a reset) and takes it out when the files are in; it tells
when the firmware was running, so that the board is first reset away from its watchdog."""

from __future__ import annotations

import json
from pathlib import Path

from provision_kit import ReplBridge, files_for, run_board
from typer.testing import CliRunner

from ingest.provision.board import Board
from ingest.provision.cli import device_app
from ingest.provision.deploy import MAINT_FLAG, build_files, deploy, enter_maintenance
from ingest.provision.firmware_tree import firmware_root, read_tree
from support.boards import FIRMWARE


def test_the_flag_is_on_the_board_while_files_are_copied_and_gone_after(
    tmp_path: Path, repl_bridge: ReplBridge
) -> None:
    flag = repl_bridge.fsdir / MAINT_FLAG
    seen: list[bool] = []
    with Board(repl_bridge.url) as board:
        deploy(board, files_for(tmp_path, "1.0"), on_file=lambda p: seen.append(flag.exists()))
    assert seen and all(seen)
    assert not flag.exists()
    assert run_board(repl_bridge.fsdir) == "firmware 1.0 dev-1"


def test_a_running_firmware_is_told_apart_from_an_idle_board(tmp_path: Path, repl_bridge: ReplBridge) -> None:
    files = build_files(read_tree(firmware_root(FIRMWARE), "unix"), {"device_id": "dev-1"}, compile_mpy=False)
    with Board(repl_bridge.url) as board:
        assert enter_maintenance(board) is False  # a REPL where nothing ran
        deploy(board, files)
        board.exec("import sensorfleet.app")  # what an interrupted firmware leaves loaded
        assert enter_maintenance(board) is True
    assert (repl_bridge.fsdir / MAINT_FLAG).read_text() == "deploy"


def test_the_freeze_manifest_is_not_copied_to_a_board() -> None:
    for profile in ("esp32", "unix"):
        tree = read_tree(firmware_root(FIRMWARE), profile)
        assert "safeboot.py" in tree and "manifest.py" not in tree


def test_deploy_resets_a_board_whose_firmware_was_running_into_maintenance_first(
    tmp_path: Path, micropython: str
) -> None:
    # Each REPL session of this board starts with the firmware's modules loaded, as a board whose
    # running firmware the connection has just interrupted.
    fsdir = tmp_path / "board-fs"
    fsdir.mkdir()
    for path, data in read_tree(firmware_root(FIRMWARE), "unix").items():
        (fsdir / path).parent.mkdir(parents=True, exist_ok=True)
        (fsdir / path).write_bytes(data)
    bridge = ReplBridge(fsdir, micropython)
    bridge.argv = [micropython, "-i", "-c", "import sys\nsys.path.insert(0, '')\nimport sensorfleet.app"]
    try:
        data = str(tmp_path / "data")
        runner = CliRunner()
        assert runner.invoke(device_app, ["add", "dev-1", "--data-dir", data]).exit_code == 0
        r = runner.invoke(
            device_app, ["deploy", "dev-1", "--port", bridge.url, "--no-wait", "--data-dir", data]
        )
        assert r.exit_code == 0, r.output
        assert (
            "the firmware was running (and maybe its watchdog): resetting into maintenance first" in r.stdout
        )
        assert bridge.sessions >= 2  # reset, then connected again for the copy
        assert not (fsdir / MAINT_FLAG).exists()
        assert json.loads((fsdir / "config.json").read_text())["device_id"] == "dev-1"
    finally:
        bridge.close()
