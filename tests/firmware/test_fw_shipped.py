"""What goes to a board (firmware/shipped.json): the ESP32's files hold nothing of the unix port and
no test fake, every file of the tree is either shipped or declared not to be, the freeze manifest
freezes the ESP32's files, and a virtual board runs from the unix port's files alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest.errors import DeviceError
from ingest.provision.firmware_tree import (
    CONFIG,
    ENTRY,
    EVERY_BOARD,
    NOT_SHIPPED,
    PROFILES,
    SHIPPED,
    profile_files,
    profile_of,
    read_tree,
    shipped_lists,
)
from ingest.provision.mpy_compile import compile_modules
from support.boards import FIRMWARE, Board, board_config
from support.mosquitto import Mosquitto
from support.mqtt import Recorder
from support.procs import wait_until


def declared() -> list[str]:
    return [path for paths in shipped_lists(FIRMWARE).values() for path in paths]


def test_the_esp32_board_gets_nothing_of_the_unix_port_and_no_test_fake() -> None:
    esp32 = profile_files(FIRMWARE, "esp32")
    assert [p for p in esp32 if "fake" in p or "unix" in p] == []
    assert sorted(p for p in esp32 if p.startswith("hal/")) == ["hal/__init__.py", "hal/esp32.py"]
    # Not a fake: `sim` is a sensor type of every board (design.md §7, the default board config).
    assert "drivers/sim.py" in esp32


def test_the_virtual_board_gets_the_unix_ports_hal() -> None:
    unix = profile_files(FIRMWARE, "unix")
    assert {"hal/unix.py", "hal/fakes.py", "hal/flash.py", "drivers/sim.py"} <= set(unix)
    assert "hal/esp32.py" not in unix


def test_every_listed_file_exists_and_is_listed_once() -> None:
    paths = declared()
    assert sorted(p for p in set(paths) if paths.count(p) > 1) == []
    assert [p for p in paths if not (FIRMWARE / p).is_file()] == []


def test_every_file_of_the_tree_is_shipped_or_declared_not_to_be() -> None:
    # A new module that no list names would silently be missing on the boards.
    found = {
        p.relative_to(FIRMWARE).as_posix()
        for p in FIRMWARE.rglob("*")
        if p.is_file()
        and p.suffix in (".py", ".json")
        and not any(part.startswith(".") or part == "__pycache__" for part in p.relative_to(FIRMWARE).parts)
    }
    assert sorted(found - set(declared()) - {SHIPPED, CONFIG}) == [], f"name them in firmware/{SHIPPED}"


def frozen(manifest: Path) -> set[str]:
    """The files MicroPython's build freezes for `manifest`: its manifest functions, run here."""
    root = manifest.parent
    found: set[str] = set()

    def module(path: str) -> None:
        found.add(path)

    def package(name: str, files: tuple[str, ...] | None = None) -> None:
        if files is None:  # every module of the package, as MicroPython's tools/manifestfile.py does
            found.update(p.relative_to(root).as_posix() for p in (root / name).rglob("*.py"))
        else:
            found.update(f"{name}/{f}" for f in files)

    exec(manifest.read_text(), {"include": lambda path: None, "module": module, "package": package})
    return found


def test_the_freeze_manifest_freezes_what_an_esp32_gets() -> None:
    # main.py stays on the board's filesystem (see manifest.py).
    assert frozen(FIRMWARE / "manifest.py") == set(profile_files(FIRMWARE, "esp32")) - {ENTRY}


def test_read_tree_takes_a_profile(tmp_path: Path) -> None:
    for profile in PROFILES:
        assert sorted(read_tree(FIRMWARE, profile)) == sorted(profile_files(FIRMWARE, profile))
    with pytest.raises(DeviceError, match="unknown board profile 'esp8266'"):
        read_tree(FIRMWARE, "esp8266")

    tiny = tmp_path / "fw"
    tiny.mkdir()
    (tiny / ENTRY).write_text("")
    with pytest.raises(DeviceError, match=f"has no {SHIPPED}"):
        read_tree(tiny, "esp32")
    lists = {EVERY_BOARD: [ENTRY], "esp32": ["gone.py"], "unix": [], NOT_SHIPPED: []}
    (tiny / SHIPPED).write_text(json.dumps(lists))
    assert read_tree(tiny, "unix") == {ENTRY: b""}
    with pytest.raises(DeviceError, match="lists gone.py, which the tree does not have"):
        read_tree(tiny, "esp32")
    (tiny / SHIPPED).write_text(json.dumps({EVERY_BOARD: [ENTRY]}))
    with pytest.raises(DeviceError, match="must be an object with the lists"):
        read_tree(tiny, "unix")


def test_a_virtual_board_runs_from_the_unix_profile_alone(
    tmp_path: Path, mosquitto: Mosquitto, micropython: str
) -> None:
    fsdir = tmp_path / "board"
    # Compiled, as a deploy puts it on a board.
    for name, data in compile_modules(read_tree(FIRMWARE, "unix")).items():
        (fsdir / name).parent.mkdir(parents=True, exist_ok=True)
        (fsdir / name).write_bytes(data)
    (fsdir / CONFIG).write_text(json.dumps(board_config(mosquitto.port)))
    rec = Recorder(mosquitto.port, ["sf/dev-1/telemetry"])
    board = Board(fsdir)
    board.start()
    try:
        wait_until(lambda: bool(rec.snapshot()), 20, "readings")
    finally:
        board.kill()
        rec.close()


def test_a_board_s_platform_names_its_profile() -> None:
    assert profile_of("esp32") == "esp32"
    assert profile_of("linux") == profile_of("darwin") == "unix"
