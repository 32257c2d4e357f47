"""Messages that can never be stored, kept with the reason and the raw payload, in the state database
(table `dead_letters`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, insert, select

from ingest.state.database import StateDatabase
from ingest.state.schema import dead_letters

MAX_STORED_PAYLOAD = 64 * 1024


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

    def __init__(self, state: StateDatabase, kept: int = DEAD_LETTERS_KEPT):
        self.state = state
        self.kept = kept

    def add(self, letters: Sequence[DeadLetter]) -> None:
        rows = [
            {
                "received_ms": d.received_ms,
                "topic": d.topic,
                "reason": d.reason,
                "payload": d.payload[:MAX_STORED_PAYLOAD],
                "payload_bytes": len(d.payload),
            }
            for d in letters
        ]
        with self.state.write() as db:
            db.execute(insert(dead_letters), rows)
            newest = select(func.max(dead_letters.c.id)).scalar_subquery()
            db.execute(delete(dead_letters).where(dead_letters.c.id <= newest - self.kept))

    def recent(self, limit: int = 100) -> list[DeadLetter]:
        c = dead_letters.c
        with self.state.read() as db:
            rows = db.execute(
                select(c.received_ms, c.topic, c.reason, c.payload, c.payload_bytes)
                .order_by(c.id.desc())
                .limit(limit)
            ).all()
        return [DeadLetter(r[0], r[1], r[2], bytes(r[3]), r[4]) for r in rows]

    def count(self) -> int:
        with self.state.read() as db:
            return int(db.execute(select(func.count()).select_from(dead_letters)).scalar_one())
