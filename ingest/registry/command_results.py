"""Command results: table `command_results`, the newest results each device reported for the commands
sent to it, by command id."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Connection, delete, insert, select

from ingest.contract import COMMAND_RESULTS_KEPT
from ingest.state.schema import command_results


class CommandResults:
    """The caller opens the transaction `add` runs in."""

    def __init__(self, kept: int = COMMAND_RESULTS_KEPT):
        self.kept = kept

    def add(self, db: Connection, device: str, command_id: str, body: bytes, received_ms: int) -> None:
        """Keeps the device's newest `kept` results (a row id per insert orders them: a result reported
        again becomes the newest)."""
        c = command_results.c
        db.execute(delete(command_results).where(c.device == device, c.command_id == command_id))
        db.execute(
            insert(command_results).values(
                device=device, command_id=command_id, received_ms=received_ms, body=body.decode()
            )
        )
        oldest_kept = (
            select(c.id).where(c.device == device).order_by(c.id.desc()).limit(1).offset(self.kept)
        ).scalar_subquery()
        db.execute(delete(command_results).where(c.device == device, c.id <= oldest_kept))

    @staticmethod
    def get(db: Connection, device: str, command_id: str) -> dict[str, Any] | None:
        c = command_results.c
        body = db.scalar(select(c.body).where(c.device == device, c.command_id == command_id))
        return None if body is None else dict(orjson.loads(body))
