"""Alert rules, alerts and their notifications in the state database.

Every transition is a compare-and-set on the alert's row, and the notifications it causes are written
in the same transaction: when two processes see the same condition, one of them moves the alert and
the other finds nothing to do, so each transition is notified once (design.md §12).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, delete, func, insert, select, update

from ingest.alerts.rules import Rule
from ingest.errors import NameTakenError
from ingest.state.database import StateDatabase, upsert
from ingest.state.schema import alert_notifications, alert_rules, alert_rules_version, alerts

HISTORY_KEPT = 10_000
"""Resolved alerts kept; older ones (and their notifications) are deleted."""


@dataclass(frozen=True, slots=True)
class Alert:
    id: int
    rule: str
    device: str
    state: str
    """pending, firing or resolved"""
    started_ms: int
    fired_ms: int | None
    resolved_ms: int | None
    value: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Notification:
    id: int
    alert_id: int
    status: str
    target: str
    body: bytes
    attempts: int
    delivered_ms: int | None = None
    failed_ms: int | None = None
    last_error: str | None = None


_ALERT = (
    alerts.c.id,
    alerts.c.rule,
    alerts.c.device,
    alerts.c.state,
    alerts.c.started_ms,
    alerts.c.fired_ms,
    alerts.c.resolved_ms,
    alerts.c.value,
)
_NOTE = (
    alert_notifications.c.id,
    alert_notifications.c.alert_id,
    alert_notifications.c.status,
    alert_notifications.c.target,
    alert_notifications.c.body,
    alert_notifications.c.attempts,
    alert_notifications.c.delivered_ms,
    alert_notifications.c.failed_ms,
    alert_notifications.c.last_error,
)


def _alert(row: Sequence[Any]) -> Alert:
    return Alert(row[0], row[1], row[2], row[3], row[4], row[5], row[6], orjson.loads(row[7]))


def _note(row: Sequence[Any]) -> Notification:
    return Notification(row[0], row[1], row[2], row[3], row[4].encode(), *row[5:])


def _key(rule: str, device: str) -> str:
    return f"{rule}/{device}"


class AlertStore:
    def __init__(self, state: StateDatabase, history_kept: int = HISTORY_KEPT):
        self.state = state
        self.history_kept = history_kept

    # Rules -----------------------------------------------------------------------------------------
    def add_rule(self, rule: Rule, now_ms: int) -> None:
        body = rule.model_dump_json()
        with self.state.write() as db:
            added = db.execute(
                upsert(db, alert_rules)
                .values(name=rule.name, body=body, created_ms=now_ms)
                .on_conflict_do_nothing(index_elements=["name"])
            ).rowcount
            if not added:
                raise NameTakenError(f"a rule named {rule.name!r} exists; remove it first")
            _bump(db)

    def remove_rule(self, name: str) -> bool:
        """Removes the rule; its pending and firing alerts end without a notification."""
        with self.state.write() as db:
            removed = db.execute(delete(alert_rules).where(alert_rules.c.name == name)).rowcount
            if removed:
                db.execute(
                    update(alerts)
                    .where(alerts.c.rule == name, alerts.c.active.is_not(None))
                    .values(state="removed", active=None)
                )
                _bump(db)
        return bool(removed)

    def rules(self) -> list[Rule]:
        with self.state.read() as db:
            bodies = db.scalars(select(alert_rules.c.body).order_by(alert_rules.c.name)).all()
        return [Rule.model_validate_json(b) for b in bodies]

    def rules_version(self) -> int:
        with self.state.read() as db:
            return int(db.scalar(select(alert_rules_version.c.version)) or 0)

    # Alerts ----------------------------------------------------------------------------------------
    def active(self) -> list[Alert]:
        with self.state.read() as db:
            rows = db.execute(select(*_ALERT).where(alerts.c.active.is_not(None))).all()
        return [_alert(r) for r in rows]

    def start(self, rule: str, device: str, now_ms: int, value: dict[str, Any]) -> int | None:
        """A new pending alert; None when the rule already has one for the device."""
        with self.state.write() as db:
            alert_id: int | None = db.scalar(
                upsert(db, alerts)
                .values(
                    rule=rule,
                    device=device,
                    state="pending",
                    started_ms=now_ms,
                    value=orjson.dumps(value).decode(),
                    active=_key(rule, device),
                )
                .on_conflict_do_nothing(index_elements=["active"])
                .returning(alerts.c.id)
            )
        return alert_id

    def fire(self, alert_id: int, now_ms: int, notes: Sequence[tuple[str, bytes]]) -> bool:
        """pending → firing, with its notifications (target, body); False if it was not pending."""
        return self._move(alert_id, "pending", {"state": "firing", "fired_ms": now_ms}, now_ms, notes)

    def resolve(
        self, alert_id: int, now_ms: int, value: dict[str, Any], notes: Sequence[tuple[str, bytes]]
    ) -> bool:
        """firing → resolved, with its notifications; False if it was not firing."""
        values = {
            "state": "resolved",
            "resolved_ms": now_ms,
            "active": None,
            "value": orjson.dumps(value).decode(),
        }
        return self._move(alert_id, "firing", values, now_ms, notes)

    def cancel(self, alert_id: int) -> bool:
        """A pending alert whose condition ended before its `for`: gone, never notified."""
        with self.state.write() as db:
            return bool(
                db.execute(
                    delete(alerts).where(alerts.c.id == alert_id, alerts.c.state == "pending")
                ).rowcount
            )

    def _move(
        self, alert_id: int, was: str, values: dict[str, Any], now_ms: int, notes: Sequence[tuple[str, bytes]]
    ) -> bool:
        status = values["state"]
        with self.state.write() as db:
            moved = db.execute(
                update(alerts).where(alerts.c.id == alert_id, alerts.c.state == was).values(**values)
            ).rowcount
            if not moved:
                return False
            if notes:
                db.execute(
                    insert(alert_notifications),
                    [
                        {
                            "alert_id": alert_id,
                            "status": status,
                            "target": target,
                            "body": body.decode(),
                            "created_ms": now_ms,
                            "attempts": 0,
                            "next_ms": now_ms,
                            "lease_ms": 0,
                        }
                        for target, body in notes
                    ],
                )
            if status == "resolved":
                self._trim(db)
        return True

    def _trim(self, db: Connection) -> None:
        newest = select(func.max(alerts.c.id)).scalar_subquery()
        old = select(alerts.c.id).where(alerts.c.active.is_(None), alerts.c.id <= newest - self.history_kept)
        db.execute(delete(alert_notifications).where(alert_notifications.c.alert_id.in_(old)))
        db.execute(delete(alerts).where(alerts.c.id.in_(old)))

    def get(self, alert_id: int) -> Alert | None:
        with self.state.read() as db:
            row = db.execute(select(*_ALERT).where(alerts.c.id == alert_id)).first()
        return None if row is None else _alert(row)

    def history(
        self, device: str | None = None, state: str | None = None, before: int | None = None, limit: int = 100
    ) -> list[Alert]:
        """Newest first; `before` an alert id, for the next page."""
        query = select(*_ALERT).order_by(alerts.c.id.desc()).limit(limit)
        if device is not None:
            query = query.where(alerts.c.device == device)
        if state is not None:
            query = query.where(alerts.c.state == state)
        if before is not None:
            query = query.where(alerts.c.id < before)
        with self.state.read() as db:
            return [_alert(r) for r in db.execute(query).all()]

    # Notifications ---------------------------------------------------------------------------------
    def claim(self, now_ms: int, lease_ms: int, limit: int = 20) -> list[Notification]:
        """Due notifications, each leased to this caller until `now_ms + lease_ms` so that no other
        process delivers it meanwhile."""
        n = alert_notifications.c
        due = (n.delivered_ms.is_(None), n.failed_ms.is_(None), n.next_ms <= now_ms, n.lease_ms <= now_ms)
        claimed = []
        with self.state.write() as db:
            for row in db.execute(select(*_NOTE).where(*due).order_by(n.id).limit(limit)).all():
                took = db.execute(
                    update(alert_notifications).where(n.id == row[0], *due).values(lease_ms=now_ms + lease_ms)
                ).rowcount
                if took:
                    claimed.append(_note(row))
        return claimed

    def delivered(self, note_id: int, now_ms: int) -> None:
        with self.state.write() as db:
            db.execute(
                update(alert_notifications)
                .where(alert_notifications.c.id == note_id)
                .values(delivered_ms=now_ms)
            )

    def retry(self, note_id: int, attempts: int, next_ms: int | None, error: str, now_ms: int) -> None:
        """A failed attempt: tried again at `next_ms`, or given up (`next_ms` None)."""
        values: dict[str, Any] = {"attempts": attempts, "last_error": error[:500], "lease_ms": 0}
        if next_ms is None:
            values["failed_ms"] = now_ms
        else:
            values["next_ms"] = next_ms
        with self.state.write() as db:
            db.execute(
                update(alert_notifications).where(alert_notifications.c.id == note_id).values(**values)
            )

    def notifications(
        self, alert_ids: Sequence[int] = (), undelivered: bool = False, limit: int = 100
    ) -> list[Notification]:
        n = alert_notifications.c
        query = select(*_NOTE).order_by(n.id.desc()).limit(limit)
        if alert_ids:
            query = query.where(n.alert_id.in_(alert_ids))
        if undelivered:
            query = query.where(n.delivered_ms.is_(None))
        with self.state.read() as db:
            return [_note(r) for r in db.execute(query).all()]

    def undelivered_counts(self) -> tuple[int, int]:
        """(waiting or retrying, given up)"""
        n = alert_notifications.c
        waiting = func.count().filter(n.delivered_ms.is_(None), n.failed_ms.is_(None))
        failed = func.count().filter(n.failed_ms.is_not(None))
        with self.state.read() as db:
            row = db.execute(
                select(waiting, failed).select_from(alert_notifications).where(n.delivered_ms.is_(None))
            ).one()
        return int(row[0]), int(row[1])


def _bump(db: Connection) -> None:
    db.execute(update(alert_rules_version).values(version=alert_rules_version.c.version + 1))
