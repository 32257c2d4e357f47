"""Presence: table `devices`, one row per device seen or registered, with when it was first and last
seen, its last status (online, firmware, signal, boot, extras) and the totals completeness counts for it,
stored with the sighting in one statement per batch."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from ingest.codec.payload import Status
from ingest.registry.completeness import BootCompleteness, DeviceCounts


@dataclass(frozen=True)
class DeviceInfo:
    id: str
    online: bool | None
    first_seen_ms: int | None
    last_seen_ms: int | None
    fw: str | None
    rssi: float | None
    boot: int | None
    status: dict[str, Any]
    received: int
    """Readings received (duplicates included)."""
    duplicates: int
    boots: list[BootCompleteness] = field(default_factory=list)
    tags: Mapping[str, str] = field(default_factory=dict)
    metrics: tuple[str, ...] = ()
    """The metric names the device has used (at most `max_metrics`), so that its newest values cost
    one bounded store request instead of a look at every field of the fleet."""

    @property
    def missing(self) -> int:
        return sum(hi - lo + 1 for b in self.boots for lo, hi in b.missing)


class Presence:
    """The devices table and the ids in it; the caller holds the registry's lock and opens the
    transactions the writes run in, and calls `keep` once they are committed."""

    SCHEMA = """
    CREATE TABLE IF NOT EXISTS devices (
        id TEXT PRIMARY KEY, first_seen_ms INTEGER, last_seen_ms INTEGER, online INTEGER,
        status_ms INTEGER, fw TEXT, rssi REAL, boot INTEGER, status TEXT NOT NULL DEFAULT '{}',
        received INTEGER NOT NULL DEFAULT 0, duplicates INTEGER NOT NULL DEFAULT 0
    );
    """

    def __init__(self, db: sqlite3.Connection):
        self._db = db
        self.known = {row[0] for row in db.execute("SELECT id FROM devices")}
        """Ids with a row, read without the lock by `Registry.accepts` on the network thread."""

    def count(self, devices: Mapping[str, DeviceCounts]) -> None:
        """Adds a batch's counts to its devices' rows, seen when their telemetry was received."""
        self._db.executemany(
            "INSERT INTO devices (id, first_seen_ms, last_seen_ms, received, duplicates) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
            "first_seen_ms = COALESCE(first_seen_ms, excluded.first_seen_ms), "
            "last_seen_ms = MAX(COALESCE(last_seen_ms, 0), excluded.last_seen_ms), "
            "received = received + excluded.received, "
            "duplicates = duplicates + excluded.duplicates",
            [(d, c.last_seen_ms, c.last_seen_ms, c.received, c.duplicates) for d, c in devices.items()],
        )

    def set_status(
        self, device: str, status: Status, received_ms: int, retained: bool
    ) -> tuple[Any, Any, Any]:
        """Stores the device's status; returns (online, fw, boot) as they were before it.

        A retained status is the broker's copy from earlier: it does not move `last_seen_ms`."""
        birth = {"online": status.online, "fw": status.fw, "boot": status.boot, "rssi": status.rssi}
        body = orjson.dumps(
            {**{k: v for k, v in birth.items() if v is not None}, **(status.extra or {})}
        ).decode()
        known = self._db.execute(
            "SELECT online, fw, boot FROM devices WHERE id = ?", (device,)
        ).fetchone() or (None, None, None)
        self._db.execute(
            "INSERT INTO devices "
            "(id, first_seen_ms, last_seen_ms, online, status_ms, fw, rssi, boot, status) "
            "VALUES (?1, ?2, ?2, ?3, ?2, ?4, ?5, ?6, ?7) ON CONFLICT (id) DO UPDATE SET "
            "first_seen_ms = COALESCE(first_seen_ms, excluded.first_seen_ms), "
            "last_seen_ms = CASE WHEN ?8 THEN last_seen_ms "
            "ELSE MAX(COALESCE(last_seen_ms, 0), excluded.last_seen_ms) END, "
            "online = excluded.online, "
            "status_ms = excluded.status_ms, fw = COALESCE(excluded.fw, fw), "
            "rssi = COALESCE(excluded.rssi, rssi), boot = COALESCE(excluded.boot, boot), "
            "status = excluded.status",
            (device, received_ms, status.online, status.fw, status.rssi, status.boot, body, retained),
        )
        return known

    def keep(self, devices: Iterable[str]) -> None:
        """After the transaction that gave `devices` their rows committed."""
        self.known.update(devices)

    def select(self, where: str, args: tuple[object, ...]) -> list[DeviceInfo]:
        """The rows `where` picks, their boots, tags and metrics left for the other concerns to fill."""
        rows = self._db.execute(
            "SELECT id, online, first_seen_ms, last_seen_ms, fw, rssi, boot, status, "
            f"received, duplicates FROM devices {where}",
            args,
        ).fetchall()
        return [
            DeviceInfo(
                id=r[0],
                online=None if r[1] is None else bool(r[1]),
                first_seen_ms=r[2],
                last_seen_ms=r[3],
                fw=r[4],
                rssi=r[5],
                boot=r[6],
                status=orjson.loads(r[7]),
                received=r[8],
                duplicates=r[9],
            )
            for r in rows
        ]
