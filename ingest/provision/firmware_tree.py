"""The firmware tree to put on a board: found in the installed wheel or the checkout (see
ingest.resources), read into memory.

The tree's `shipped.json` says which of its files go to which kind of board, so that test fakes
never reach a real one:

    {"every_board": [...], "esp32": [...], "unix": [...], "not_shipped": [...]}

A profile is `every_board` plus its own list: `esp32` for a real board, `unix` for a virtual board
on the MicroPython unix port (its HAL, simulated buses, littlefs image). `not_shipped` names the
tree's files that no board gets (the freeze manifest, the example config, test fakes), so that
every file of the tree is declared one way or the other."""

from __future__ import annotations

import json
from pathlib import Path

from ingest.errors import DeviceError
from ingest.resources import shipped_dir

ENTRY = "main.py"
CONFIG = "config.json"
SHIPPED = "shipped.json"
PROFILES = ("esp32", "unix")
EVERY_BOARD = "every_board"
NOT_SHIPPED = "not_shipped"


def firmware_root(explicit: Path | None = None) -> Path:
    """The directory holding the firmware's `main.py`: `explicit`, or the one shipped with sensorfleet."""
    root = explicit if explicit is not None else shipped_dir("firmware", ENTRY)
    if not (root / ENTRY).is_file():
        raise DeviceError(f"{root} is not a firmware tree: it has no {ENTRY}")
    return root


def shipped_lists(root: Path) -> dict[str, list[str]]:
    """The tree's `shipped.json`: list name → paths relative to the tree."""
    path = root / SHIPPED
    try:
        lists = json.loads(path.read_text())
    except FileNotFoundError:
        raise DeviceError(f"firmware tree {root} has no {SHIPPED} saying what goes to a board") from None
    except ValueError as e:
        raise DeviceError(f"{path} is not valid JSON: {e}") from None
    names = (EVERY_BOARD, *PROFILES, NOT_SHIPPED)
    if not isinstance(lists, dict) or set(lists) != set(names):
        raise DeviceError(f"{path} must be an object with the lists {', '.join(names)}")
    for name, paths in lists.items():
        if not (isinstance(paths, list) and all(isinstance(p, str) for p in paths)):
            raise DeviceError(f"{path}: {name} must be a list of paths")
    return lists


def profile_files(root: Path, profile: str) -> list[str]:
    """The paths (relative to the tree) that a board of `profile` gets."""
    if profile not in PROFILES:
        raise DeviceError(f"unknown board profile {profile!r}: one of {', '.join(PROFILES)}")
    lists = shipped_lists(root)
    return lists[EVERY_BOARD] + lists[profile]


def read_tree(root: Path, profile: str) -> dict[str, bytes]:
    """The files a board of `profile` gets (see the module doc), keyed by their path on the board
    (relative, `/`-separated). A `config.json` is left out: each board gets its own, rendered for it."""
    files: dict[str, bytes] = {}
    for name in profile_files(root, profile):
        path = root / name
        if not path.is_file():
            raise DeviceError(f"{root / SHIPPED} lists {name}, which the tree does not have")
        files[name] = path.read_bytes()
    files.pop(CONFIG, None)
    if ENTRY not in files:
        raise DeviceError(f"firmware tree {root} has no {ENTRY}")
    return files


def profile_of(platform: str) -> str:
    """The profile of a board that reports `sys.platform` = `platform`: the unix port runs the
    virtual board's HAL, everything else is taken for an ESP32."""
    return "unix" if platform in ("linux", "darwin") else "esp32"
