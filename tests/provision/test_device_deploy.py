"""Deploying to a virtual board (the unix port's REPL on a loopback port) with mpremote."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from provision_kit import ReplBridge, files_for, firmware, run_board

from ingest.errors import DeviceError
from ingest.provision.board import Board, BoardInfo
from ingest.provision.deploy import MAINT_FLAG, MANIFEST, OLD, STAGE, build_files, check_board, deploy
from ingest.provision.firmware_tree import read_tree
from ingest.provision.mpy_compile import MpyVersion, compiler_version
from support.procs import free_port


def on_board(fsdir: Path) -> dict[str, str]:
    return {
        p.relative_to(fsdir).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in fsdir.rglob("*")
        if p.is_file()
    }


def test_deploy_lands_every_file_verified_and_keeps_the_boards_own(
    tmp_path: Path, repl_bridge: ReplBridge
) -> None:
    fsdir = repl_bridge.fsdir
    (fsdir / "outbox.bin").write_bytes(b"readings the firmware kept")
    files = files_for(tmp_path, "1.0", {"retired.py": "X = 1\n"})
    with Board(repl_bridge.url) as board:
        result = deploy(board, files)
    expected = {path: hashlib.sha256(data).hexdigest() for path, data in files.items()}
    landed = on_board(fsdir)
    assert {p: landed[p] for p in expected} == expected
    assert {p: result.files[p] for p in expected} == expected
    assert result.board.implementation == "micropython"
    assert (fsdir / "outbox.bin").read_bytes() == b"readings the firmware kept"
    assert not (fsdir / STAGE).exists() and not (fsdir / OLD).exists()
    assert run_board(fsdir) == "firmware 1.0 dev-1"

    with Board(repl_bridge.url) as board:
        deploy(board, files_for(tmp_path, "2.0"))
    assert not (fsdir / "retired.py").exists(), "a file the new firmware no longer ships stays behind"
    assert (fsdir / MANIFEST).exists() and (fsdir / "outbox.bin").exists()
    assert run_board(fsdir) == "firmware 2.0 dev-1"


def test_a_board_lost_mid_copy_keeps_the_old_firmware(tmp_path: Path, repl_bridge: ReplBridge) -> None:
    with Board(repl_bridge.url) as board:
        deploy(board, files_for(tmp_path, "1.0"))
    before = on_board(repl_bridge.fsdir)

    copied: list[str] = []

    def pull_the_cable(path: str) -> None:
        copied.append(path)
        if len(copied) == 2:
            repl_bridge.drop()

    new = files_for(tmp_path, "2.0")
    with pytest.raises(DeviceError, match="lost the board"), Board(repl_bridge.url) as board:
        deploy(board, new, on_file=pull_the_cable)
    assert len(copied) == 2 < len(new)
    after = {p: h for p, h in on_board(repl_bridge.fsdir).items() if not p.startswith(STAGE)}
    assert (repl_bridge.fsdir / MAINT_FLAG).exists(), "it comes back in maintenance"
    assert {p: h for p, h in after.items() if p != MAINT_FLAG} == before
    assert run_board(repl_bridge.fsdir) == "firmware 1.0 dev-1"

    with Board(repl_bridge.url) as board:
        deploy(board, new)
    assert not (repl_bridge.fsdir / STAGE).exists()
    assert run_board(repl_bridge.fsdir) == "firmware 2.0 dev-1"


def test_compiled_modules_run_on_the_board(tmp_path: Path, repl_bridge: ReplBridge) -> None:
    files = files_for(tmp_path, "3.0", compiled=True)
    assert "app/version.mpy" in files and "app/version.py" not in files and "main.py" in files
    with Board(repl_bridge.url) as board:
        deploy(board, files, compiled=True)
    assert (repl_bridge.fsdir / "app" / "version.mpy").read_bytes().startswith(b"M")
    assert run_board(repl_bridge.fsdir) == "firmware 3.0 dev-1"


def test_deploy_fits_a_small_heap(tmp_path: Path, micropython: str) -> None:
    # 40 KB on the 64-bit unix port is tighter than an ESP32's 60-110 KB of MicroPython heap.
    (tmp_path / "fs").mkdir()
    bridge = ReplBridge(tmp_path / "fs", micropython, heap="40K")
    table = "".join(f"ROW_{i} = {bytes(range(i % 200, i % 200 + 40))!r}\n" for i in range(300))
    source = files_for(tmp_path, "4.0", {"app/table.py": table})
    compiled = files_for(tmp_path, "4.0", {"app/table.py": table}, compiled=True)
    assert len(source["app/table.py"]) > 30_000 and "app/table.mpy" in compiled
    try:
        for files, mpy in ((source, False), (compiled, True)):
            with Board(bridge.url) as board:
                deploy(board, files, compiled=mpy)
    finally:
        bridge.close()
    assert not (tmp_path / "fs/app/table.py").exists(), "the compiled deploy retires the source"
    assert run_board(tmp_path / "fs") == "firmware 4.0 dev-1"


def test_a_firmware_tree_may_not_ship_into_the_boards_data_folder(tmp_path: Path) -> None:
    with pytest.raises(DeviceError, match=r"ships data/seed\.json inside the board's data folder 'data'"):
        files_for(tmp_path, "5.0", {"data/seed.json": "{}"})
    tree = read_tree(firmware(tmp_path / "fw", "5.0", {"data/seed.json": "{}"}), "unix")
    assert "data/seed.json" in build_files(tree, {"device_id": "dev-1", "data_dir": "flash"}, False)
    with pytest.raises(DeviceError, match="'flash'"):
        build_files(tree | {"flash/x.py": b""}, {"device_id": "dev-1", "data_dir": "/flash"}, False)


def test_board_checks() -> None:
    mpy = compiler_version()
    mpy_field = mpy.major | (mpy.sub << 8)
    good = BoardInfo("micropython", (1, 24, 1), mpy_field, "esp32")
    check_board(good, mpy)
    check_board(good, None)
    with pytest.raises(DeviceError, match="not MicroPython"):
        check_board(BoardInfo("circuitpython", (9, 0, 0), mpy_field, "esp32"), None)
    with pytest.raises(DeviceError, match=r"MicroPython 1\.19\.1; the firmware needs 1\.22"):
        check_board(BoardInfo("micropython", (1, 19, 1), 6, "esp32"), None)
    check_board(BoardInfo("micropython", (1, 22, 0), 6 | (2 << 8), "esp32"), MpyVersion(6, 3))
    with pytest.raises(DeviceError, match=r"loads \.mpy v7\.0, mpy-cross emits v6\.3"):
        check_board(BoardInfo("micropython", (2, 0, 0), 7, "esp32"), MpyVersion(6, 3))


def test_no_board_answering(silent_port: int) -> None:
    with pytest.raises(DeviceError, match="no MicroPython board answering"):
        Board(f"socket://127.0.0.1:{silent_port}", connect_timeout=1)


def test_nothing_on_the_port() -> None:
    with pytest.raises(DeviceError, match="cannot open"):
        Board(f"socket://127.0.0.1:{free_port()}")
    with pytest.raises(DeviceError, match="cannot open /dev/ttyNOSUCHPORT"):
        Board("/dev/ttyNOSUCHPORT")
