"""The inventory of provisioned boards: `<data_dir>/devices.sqlite3`, table `provisioned_devices`.

It holds each board's rendered config (secrets included, so the file is kept 0600) and the hash of
its broker password; the broker's password file and ACL are regenerated from it on every change.
The ingest service's registry (`ingest.registry`) holds what it has seen; this is only what was
provisioned.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingest.database import create_tables, transaction
from ingest.errors import DeviceError
from ingest.provision.passwd import generate_password, hash_password

DB_NAME = "devices.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS provisioned_devices (
    id TEXT PRIMARY KEY,
    config TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS broker_logins (
    username TEXT PRIMARY KEY,
    password TEXT NOT NULL,
    password_hash TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class ProvisionedDevice:
    id: str
    config: dict[str, Any]
    password_hash: str
    created_at: float


@dataclass(frozen=True)
class BrokerLogin:
    username: str
    password: str
    password_hash: str


class Inventory:
    def __init__(self, data_dir: Path):
        self.path = data_dir / DB_NAME
        try:
            create_tables(self.path, _SCHEMA)
        except (OSError, sqlite3.Error) as e:
            raise DeviceError(f"cannot open the device registry {self.path}: {e}") from e

    def add(self, device_id: str, config: dict[str, Any], password_hash: str) -> ProvisionedDevice:
        device = ProvisionedDevice(device_id, config, password_hash, time.time())
        try:
            with transaction(self.path) as db:
                db.execute(
                    "INSERT INTO provisioned_devices (id, config, password_hash, created_at)"
                    " VALUES (?, ?, ?, ?)",
                    (device.id, json.dumps(config), password_hash, device.created_at),
                )
        except sqlite3.IntegrityError as e:
            raise DeviceError(f"device {device_id!r} is already provisioned") from e
        return device

    def remove(self, device_id: str) -> None:
        with transaction(self.path) as db:
            if db.execute("DELETE FROM provisioned_devices WHERE id = ?", (device_id,)).rowcount == 0:
                raise DeviceError(f"device {device_id!r} is not provisioned")

    def get(self, device_id: str) -> ProvisionedDevice:
        device = self.find(device_id)
        if device is None:
            raise DeviceError(f"device {device_id!r} is not provisioned (see `sensorfleet device add`)")
        return device

    def find(self, device_id: str) -> ProvisionedDevice | None:
        with transaction(self.path) as db:
            row = db.execute(
                "SELECT id, config, password_hash, created_at FROM provisioned_devices WHERE id = ?",
                (device_id,),
            ).fetchone()
        return None if row is None else _device(row)

    def all(self) -> list[ProvisionedDevice]:
        with transaction(self.path) as db:
            rows = db.execute(
                "SELECT id, config, password_hash, created_at FROM provisioned_devices ORDER BY id"
            ).fetchall()
        return [_device(row) for row in rows]

    def login(self, username: str) -> BrokerLogin:
        """A service login (the ingest's), created with a fresh password the first time it is asked for."""
        with transaction(self.path) as db:
            row = db.execute(
                "SELECT username, password, password_hash FROM broker_logins WHERE username = ?", (username,)
            ).fetchone()
            if row is None:
                password = generate_password()
                row = (username, password, hash_password(password))
                db.execute("INSERT INTO broker_logins VALUES (?, ?, ?)", row)
        return BrokerLogin(*row)


def _device(row: tuple[str, str, str, float]) -> ProvisionedDevice:
    return ProvisionedDevice(row[0], json.loads(row[1]), row[2], row[3])
