"""Where the non-Python trees that ship with sensorfleet (firmware, dashboard) are on disk."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ingest.errors import ConfigError


def shipped_dir(name: str, marker: str) -> Path:
    """The directory of the namespace package `name` (a checkout's folder or the installed copy) that
    holds the file `marker`.

    importlib.resources cannot read namespace packages under an editable install on Python 3.11,
    so the package's search locations are read directly; the marker tells ours from any other folder
    of the same name on sys.path (a test suite's `firmware/`, say).
    """
    spec = importlib.util.find_spec(name)
    locations = spec.submodule_search_locations if spec else None
    for location in locations or []:
        if (Path(location) / marker).is_file():
            return Path(location)
    raise ConfigError(f"the `{name}` files are not installed with this copy of sensorfleet")
