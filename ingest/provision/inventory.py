"""The inventory of provisioned boards, in the state database (tables `provisioned_devices` and
`broker_logins`).

It holds each board's rendered config (secrets included: the state database is private to the
service's user) and the hash of its broker password; the broker's password file and ACL are
regenerated from it on every change. The ingest service's registry (`ingest.registry`) holds what it
has seen; this is only what was provisioned.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError

from ingest.errors import DeviceError
from ingest.provision.passwd import generate_password, hash_password
from ingest.state.database import StateDatabase
from ingest.state.schema import broker_logins, provisioned_devices


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


_DEVICE = (
    provisioned_devices.c.id,
    provisioned_devices.c.config,
    provisioned_devices.c.password_hash,
    provisioned_devices.c.created_at,
)


class Inventory:
    def __init__(self, state: StateDatabase):
        self.state = state

    def add(self, device_id: str, config: dict[str, Any], password_hash: str) -> ProvisionedDevice:
        device = ProvisionedDevice(device_id, config, password_hash, time.time())
        try:
            with self.state.write() as db:
                db.execute(
                    insert(provisioned_devices).values(
                        id=device.id,
                        config=json.dumps(config),
                        password_hash=password_hash,
                        created_at=device.created_at,
                    )
                )
        except IntegrityError as e:
            raise DeviceError(f"device {device_id!r} is already provisioned") from e
        return device

    def remove(self, device_id: str) -> None:
        with self.state.write() as db:
            gone = db.execute(delete(provisioned_devices).where(provisioned_devices.c.id == device_id))
            if gone.rowcount == 0:
                raise DeviceError(f"device {device_id!r} is not provisioned")

    def get(self, device_id: str) -> ProvisionedDevice:
        device = self.find(device_id)
        if device is None:
            raise DeviceError(f"device {device_id!r} is not provisioned (see `sensorfleet device add`)")
        return device

    def find(self, device_id: str) -> ProvisionedDevice | None:
        with self.state.read() as db:
            row = db.execute(select(*_DEVICE).where(provisioned_devices.c.id == device_id)).first()
        return None if row is None else _device(row)

    def all(self) -> list[ProvisionedDevice]:
        with self.state.read() as db:
            rows = db.execute(select(*_DEVICE).order_by(provisioned_devices.c.id)).all()
        return [_device(row) for row in rows]

    def login(self, username: str) -> BrokerLogin:
        """A service login (the ingest's), created with a fresh password the first time it is asked for."""
        columns = (broker_logins.c.username, broker_logins.c.password, broker_logins.c.password_hash)
        with self.state.write() as db:
            row = db.execute(select(*columns).where(broker_logins.c.username == username)).first()
            if row is not None:
                return BrokerLogin(*row)
            password = generate_password()
            login = BrokerLogin(username, password, hash_password(password))
            db.execute(
                insert(broker_logins).values(
                    username=login.username, password=login.password, password_hash=login.password_hash
                )
            )
        return login


def _device(row: Sequence[Any]) -> ProvisionedDevice:
    return ProvisionedDevice(row[0], json.loads(row[1]), row[2], row[3])
