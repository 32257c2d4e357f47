"""The broker's password file and ACL, regenerated from the inventory after every change.

Written to `<data_dir>/broker/passwd` and `<data_dir>/broker/acl` (mode 0600, replaced atomically so
a broker reloading on SIGHUP never reads half a file). Point Mosquitto at them with
`password_file` and `acl_file`.
"""

from __future__ import annotations

import contextlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from ingest.provision.acl import render_acl
from ingest.provision.ids import INGEST_USERNAME
from ingest.provision.inventory import Inventory
from ingest.provision.passwd import password_file


@dataclass(frozen=True)
class BrokerFiles:
    passwd: Path
    acl: Path


def broker_dir(data_dir: Path) -> Path:
    return data_dir / "broker"


def write_broker_files(inventory: Inventory, data_dir: Path, prefix: str) -> BrokerFiles:
    """Writes the password file (the ingest's login plus every device) and the ACL for `prefix` and
    every prefix a provisioned device uses."""
    devices = inventory.all()
    ingest = inventory.login(INGEST_USERNAME)
    entries = [(ingest.username, ingest.password_hash)] + [(d.id, d.password_hash) for d in devices]
    prefixes = {prefix} | {str(d.config["mqtt"]["prefix"]) for d in devices}
    folder = broker_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    files = BrokerFiles(folder / "passwd", folder / "acl")
    _replace(files.passwd, password_file(entries))
    _replace(files.acl, render_acl(prefixes, INGEST_USERNAME))
    return files


def _replace(path: Path, text: str) -> None:
    """Writes `text` to `path` via a temp file and a rename. A file the operator opened to the broker's
    group (e.g. `chgrp mosquitto`, `chmod 640`) keeps that group and mode; a new one is 0600."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    if path.exists():
        old = path.stat()
        os.chmod(tmp, stat.S_IMODE(old.st_mode))
        with contextlib.suppress(PermissionError):
            os.chown(tmp, -1, old.st_gid)
    os.replace(tmp, path)
