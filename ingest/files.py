"""The data dir and the files in it: private to the user that runs sensorfleet (design.md §9).

The data dir holds broker passwords (board configs), token digests and every device's data, so it is
0700 and each file in it that holds a secret is 0600, whatever the umask says. A data dir made by an
older release with wider modes is narrowed when it is opened.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from ingest.errors import ConfigError

log = logging.getLogger(__name__)

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def private_dir(path: Path) -> Path:
    path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    os.chmod(path, PRIVATE_DIR)
    return path


def private_file(path: Path) -> Path:
    """Creates `path` empty with mode 0600 if it is missing, or narrows it to 0600.

    Created before SQLite opens it, a database gets its `-wal` and `-shm` files with the same mode."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE)
    os.close(fd)
    os.chmod(path, PRIVATE_FILE)
    return path


def write_private(path: Path, data: bytes) -> None:
    """Replaces `path` with `data` in one step, mode 0600 from the start (never readable by others)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(tmp, PRIVATE_FILE)
    os.replace(tmp, path)


def read_secret(path: Path) -> str:
    """A password kept in a file (its first line), so that it never shows on a command line."""
    try:
        mode = path.stat().st_mode
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read the secret in {path}: {e}") from e
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("%s is readable by other users; chmod 600 it", path)
    secret = text.split("\n", 1)[0].rstrip("\r")
    if not secret:
        raise ConfigError(f"{path} is empty: expected the secret on its first line")
    return secret
