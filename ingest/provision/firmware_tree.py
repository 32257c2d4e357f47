"""The firmware tree to put on a board: found in the installed wheel or the checkout, read into memory.

In a wheel the tree is the namespace package `firmware`; in a checkout it is `<repo>/firmware`.
Both show up in the namespace package's search path, which is read directly because
`importlib.resources.files` refuses a namespace path that an editable install has extended.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ingest.errors import DeviceError

ENTRY = "main.py"
CONFIG = "config.json"
_SHIPPED_SUFFIXES = (".py", ".json")
_SKIPPED_DIRS = {"__pycache__", "tests"}


def firmware_root(explicit: Path | None = None) -> Path:
    """The directory holding the firmware's `main.py`."""
    if explicit is not None:
        if not (explicit / ENTRY).is_file():
            raise DeviceError(f"{explicit} is not a firmware tree: it has no {ENTRY}")
        return explicit
    spec = importlib.util.find_spec("firmware")
    for location in (spec.submodule_search_locations or []) if spec else []:
        if (Path(location) / ENTRY).is_file():
            return Path(location)
    raise DeviceError(f"firmware tree not found: no `firmware` package with a {ENTRY} is installed")


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
