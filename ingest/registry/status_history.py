"""Status history: table `status_changes`, each device's recent changes of `online`, `boot` or `fw`, as
its status messages told them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, insert, select

from ingest.codec.payload import Status
from ingest.state.schema import status_changes

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
    """The newest `kept` changes per device; the caller opens the transaction `add` runs in."""

    def __init__(self, kept: int = STATUS_CHANGES_KEPT):
        self.kept = kept

    def add(
        self,
        db: Connection,
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
        c = status_changes.c
        db.execute(
            insert(status_changes).values(
                device=device,
                at_ms=change.at_ms,
                online=change.online,
                fw=change.fw,
                boot=change.boot,
                changed=",".join(changed),
                retained=retained,
            )
        )
        # One index seek to the oldest row kept: a status change is rare, trimming at each one is cheap.
        oldest_kept = (
            select(c.id).where(c.device == device).order_by(c.id.desc()).limit(1).offset(self.kept)
        ).scalar_subquery()
        db.execute(delete(status_changes).where(c.device == device, c.id <= oldest_kept))
        return change

    @staticmethod
    def changes(db: Connection, device: str, limit: int) -> list[StatusChange]:
        """Newest first."""
        c = status_changes.c
        rows = db.execute(
            select(c.at_ms, c.online, c.fw, c.boot, c.changed, c.retained)
            .where(c.device == device)
            .order_by(c.id.desc())
            .limit(limit)
        )
        return [
            StatusChange(at, bool(online), fw, boot, tuple(changed.split(",")), bool(retained))
            for at, online, fw, boot, changed, retained in rows
        ]
