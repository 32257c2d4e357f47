"""Command results: table `command_results`, the newest results each device reported for the commands
sent to it, by command id."""

from __future__ import annotations

import sqlite3
from typing import Any

import orjson

from ingest.contract import COMMAND_RESULTS_KEPT


class CommandResults:
    """The caller holds the registry's lock and opens the transaction `add` runs in."""

    SCHEMA = """
    CREATE TABLE IF NOT EXISTS command_results (
        device TEXT NOT NULL, id TEXT NOT NULL, received_ms INTEGER NOT NULL, body TEXT NOT NULL,
        PRIMARY KEY (device, id)
    );
    """

    def __init__(self, db: sqlite3.Connection, kept: int = COMMAND_RESULTS_KEPT):
        self._db, self.kept = db, kept

    def add(self, device: str, command_id: str, body: bytes, received_ms: int) -> None:
        """Keeps the device's newest `kept` results (a rowid per insert orders them)."""
        self._db.execute(
            "INSERT OR REPLACE INTO command_results VALUES (?, ?, ?, ?)",
            (device, command_id, received_ms, body.decode()),
        )
        self._db.execute(
            "DELETE FROM command_results WHERE device = ?1 AND rowid <= (SELECT rowid FROM "
            "command_results WHERE device = ?1 ORDER BY rowid DESC LIMIT 1 OFFSET ?2)",
            (device, self.kept),
        )

    def get(self, device: str, command_id: str) -> dict[str, Any] | None:
        row = self._db.execute(
            "SELECT body FROM command_results WHERE device = ? AND id = ?", (device, command_id)
        ).fetchone()
        return None if row is None else dict(orjson.loads(row[0]))
