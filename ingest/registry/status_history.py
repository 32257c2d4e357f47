"""Status history: table `status_changes`, each device's recent changes of `online`, `boot` or `fw`, as
its status messages told them."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from ingest.codec.payload import Status

STATUS_CHANGES_KEPT = 500
"""Per device; older status changes are deleted as new ones are recorded."""


@dataclass(frozen=True)
class StatusChange:
    """The device's state after a status message that changed `online`, `boot` or `fw`."""

    at_ms: int
    online: bool
    fw: str | None
    boot: int | None
    changed: tuple[str, ...]
    """Of `online`, `boot`, `fw`: those that differ from what was known before."""
    retained: bool
    """Learned from the broker's retained copy on (re)connecting: it happened at or before `at_ms`."""


class StatusHistory:
    """The newest `kept` changes per device; the caller holds the registry's lock and opens the
    transaction `add` runs in."""

    SCHEMA = """
    CREATE TABLE IF NOT EXISTS status_changes (
        id INTEGER PRIMARY KEY, device TEXT NOT NULL, at_ms INTEGER NOT NULL, online INTEGER NOT NULL,
        fw TEXT, boot INTEGER, changed TEXT NOT NULL, retained INTEGER NOT NULL
    );
    CREATE INDEX IF NOT EXISTS status_changes_by_device ON status_changes (device, id);
    """

    def __init__(self, db: sqlite3.Connection, kept: int = STATUS_CHANGES_KEPT):
        self._db, self.kept = db, kept

    def add(
        self,
        device: str,
        known: tuple[Any, Any, Any],
        status: Status,
        received_ms: int,
        retained: bool,
    ) -> StatusChange | None:
        """In the transaction that stores the status; `known` is (online, fw, boot) before it. Returns
        the change it recorded, if the status made one.

        A status without `fw` or `boot` (the last will) keeps them as they were: it changes only `online`."""
        online, fw, boot = known
        compared: tuple[tuple[str, object, object], ...] = (
            ("online", status.online, online),
            ("boot", status.boot, boot),
            ("fw", status.fw, fw),
        )
        changed = [name for name, now, before in compared if now is not None and now != before]
        if not changed:
            return None
        change = StatusChange(
            at_ms=received_ms,
            online=status.online,
            fw=status.fw if status.fw is not None else fw,
            boot=status.boot if status.boot is not None else boot,
            changed=tuple(changed),
            retained=retained,
        )
        self._db.execute(
            "INSERT INTO status_changes (device, at_ms, online, fw, boot, changed, retained) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (device, change.at_ms, change.online, change.fw, change.boot, ",".join(changed), retained),
        )
        # One index seek to the oldest row kept: a status change is rare, trimming at each one is cheap.
        self._db.execute(
            "DELETE FROM status_changes WHERE device = ?1 AND id <= (SELECT id FROM status_changes "
            "WHERE device = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
            (device, self.kept),
        )
        return change

    def changes(self, device: str, limit: int) -> list[StatusChange]:
        """Newest first."""
        rows = self._db.execute(
            "SELECT at_ms, online, fw, boot, changed, retained FROM status_changes "
            "WHERE device = ? ORDER BY id DESC LIMIT ?",
            (device, limit),
        ).fetchall()
        return [
            StatusChange(at, bool(online), fw, boot, tuple(changed.split(",")), bool(retained))
            for at, online, fw, boot, changed, retained in rows
        ]
