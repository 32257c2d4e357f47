"""The firmware tree to put on a board: found in the installed wheel or the checkout (see
ingest.resources), read into memory."""

from __future__ import annotations

from pathlib import Path

from ingest.errors import DeviceError
from ingest.resources import shipped_dir

ENTRY = "main.py"
CONFIG = "config.json"
_SHIPPED_SUFFIXES = (".py", ".json")
_SKIPPED_DIRS = {"__pycache__", "tests"}


def firmware_root(explicit: Path | None = None) -> Path:
    """The directory holding the firmware's `main.py`: `explicit`, or the one shipped with sensorfleet."""
    root = explicit if explicit is not None else shipped_dir("firmware", ENTRY)
    if not (root / ENTRY).is_file():
        raise DeviceError(f"{root} is not a firmware tree: it has no {ENTRY}")
    return root


def read_tree(root: Path) -> dict[str, bytes]:
    """Every file the board needs, keyed by its path on the board (relative, `/`-separated).

    A `config.json` in the tree is left out: each board gets its own, rendered for it."""
    files: dict[str, bytes] = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if not path.is_file() or path.suffix not in _SHIPPED_SUFFIXES:
            continue
        if _SKIPPED_DIRS.intersection(relative.parts[:-1]) or relative.as_posix() == CONFIG:
            continue
        files[relative.as_posix()] = path.read_bytes()
    if ENTRY not in files:
        raise DeviceError(f"firmware tree {root} has no {ENTRY}")
    return files
