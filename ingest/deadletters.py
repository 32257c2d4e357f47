"""Messages that can never be stored, kept with the reason and the raw payload (SQLite under the data dir)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ingest.database import open_database, write_transaction

MAX_STORED_PAYLOAD = 64 * 1024
_SCHEMA = """
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY, received_ms INTEGER NOT NULL, topic TEXT NOT NULL,
    reason TEXT NOT NULL, payload BLOB NOT NULL, payload_bytes INTEGER NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    received_ms: int
    topic: str
    reason: str
    payload: bytes
    """At most MAX_STORED_PAYLOAD bytes of it; `payload_bytes` is the size that arrived."""
    payload_bytes: int = -1


DEAD_LETTERS_KEPT = 100_000


class DeadLetters:
    """Keeps the newest `kept` letters: a flood of bad messages costs bounded disk."""

    def __init__(self, path: Path, kept: int = DEAD_LETTERS_KEPT):
        self._db = open_database(path, _SCHEMA)
        self._lock = threading.Lock()
        self.kept = kept

    def add(self, letters: Sequence[DeadLetter]) -> None:
        rows = [
            (d.received_ms, d.topic, d.reason, d.payload[:MAX_STORED_PAYLOAD], len(d.payload))
            for d in letters
        ]
        with self._lock, write_transaction(self._db):
            self._db.executemany(
                "INSERT INTO dead_letters (received_ms, topic, reason, payload, payload_bytes) "
                "VALUES (?, ?, ?, ?, ?)",
                rows,
            )
            self._db.execute(
                "DELETE FROM dead_letters WHERE id <= (SELECT MAX(id) FROM dead_letters) - ?", (self.kept,)
            )

    def recent(self, limit: int = 100) -> list[DeadLetter]:
        with self._lock:
            rows = self._db.execute(
                "SELECT received_ms, topic, reason, payload, payload_bytes FROM dead_letters "
                "ORDER BY id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [DeadLetter(r[0], r[1], r[2], bytes(r[3]), r[4]) for r in rows]

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM dead_letters").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
