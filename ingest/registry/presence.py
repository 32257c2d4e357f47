"""Presence: table `devices`, one row per device seen, with when it was first and last seen, its last
status (online, firmware, signal, boot, extras) and the totals completeness counts for it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import BindParameter, Connection, Executable, bindparam, func, select, update

from ingest.codec.payload import Status
from ingest.registry.completeness import BootCompleteness, DeviceCounts
from ingest.state.database import greatest, per_dialect, upsert
from ingest.state.schema import devices


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
    """The devices table and the ids in it; the caller holds the registry's lock, opens the
    transactions the writes run in, and calls `keep` once they are committed."""

    def __init__(self, db: Connection):
        self.known = set(db.scalars(select(devices.c.id)))
        """Ids with a row, read without the lock by `Registry.accepts` on the network thread."""

    @staticmethod
    def lock(db: Connection, ids: Iterable[str]) -> None:
        """Gives each device a row and holds it until the transaction ends (PostgreSQL; SQLite's write
        transaction holds the whole file), in id order: two processes counting the same device wait
        for each other instead of both reading its ranges as they were."""
        wanted = sorted(set(ids))
        if not wanted:
            return
        add, hold = _lock_statements(db)
        db.execute(add, [{"id": d} for d in wanted])
        if hold is not None:
            db.execute(hold, {"ids": wanted})

    @staticmethod
    def count(db: Connection, counts: Mapping[str, DeviceCounts]) -> None:
        """Adds a batch's counts to its devices' rows (locked), seen when their telemetry was received."""
        if not counts:
            return
        db.execute(
            _count_statement(db),
            [
                {"device": d, "seen": n.last_seen_ms, "n_received": n.received, "n_duplicates": n.duplicates}
                for d, n in sorted(counts.items())
            ],
        )

    @staticmethod
    def set_status(
        db: Connection, device: str, status: Status, received_ms: int, retained: bool
    ) -> tuple[Any, Any, Any]:
        """Stores the device's status; returns (online, fw, boot) as they were before it.

        A retained status is the broker's copy from earlier: it does not move `last_seen_ms`."""
        birth = {"online": status.online, "fw": status.fw, "boot": status.boot, "rssi": status.rssi}
        body = orjson.dumps(
            {**{k: v for k, v in birth.items() if v is not None}, **(status.extra or {})}
        ).decode()
        Presence.lock(db, (device,))
        c = devices.c
        before = db.execute(select(c.online, c.fw, c.boot).where(c.id == device)).one()
        last_seen = (
            c.last_seen_ms if retained else greatest(db, func.coalesce(c.last_seen_ms, 0), received_ms)
        )
        db.execute(
            update(devices)
            .where(c.id == device)
            .values(
                first_seen_ms=func.coalesce(c.first_seen_ms, received_ms),
                last_seen_ms=func.coalesce(last_seen, received_ms),
                online=status.online,
                status_ms=received_ms,
                fw=func.coalesce(status.fw, c.fw),
                rssi=func.coalesce(status.rssi, c.rssi),
                boot=func.coalesce(status.boot, c.boot),
                status=body,
            )
        )
        return before[0], before[1], before[2]

    def keep(self, ids: Iterable[str]) -> None:
        """After the transaction that gave `ids` their rows committed."""
        self.known.update(ids)

    @staticmethod
    def select(db: Connection, where: Any, limit: int | None = None) -> list[DeviceInfo]:
        """The rows `where` picks, in id order, their boots, tags and metrics left for the other
        concerns to fill."""
        c = devices.c
        query = (
            select(c.id, c.online, c.first_seen_ms, c.last_seen_ms, c.fw, c.rssi, c.boot, c.status)
            .add_columns(c.received, c.duplicates)
            .where(where)
            .order_by(c.id)
            .limit(limit)
        )
        return [
            DeviceInfo(
                id=r[0],
                online=r[1],
                first_seen_ms=r[2],
                last_seen_ms=r[3],
                fw=r[4],
                rssi=r[5],
                boot=r[6],
                status=orjson.loads(r[7]),
                received=r[8],
                duplicates=r[9],
            )
            for r in db.execute(query)
        ]


@per_dialect
def _lock_statements(dialect: str) -> tuple[Executable, Executable | None]:
    add = upsert(dialect, devices).on_conflict_do_nothing()
    if dialect == "sqlite":  # BEGIN IMMEDIATE already holds the whole file
        return add, None
    c = devices.c
    hold = select(c.id).where(c.id.in_(bindparam("ids", expanding=True))).order_by(c.id).with_for_update()
    return add, hold


@per_dialect
def _count_statement(dialect: str) -> Executable:
    c = devices.c
    seen: BindParameter[int] = bindparam("seen")
    return (
        update(devices)
        .where(c.id == bindparam("device"))
        .values(
            first_seen_ms=func.coalesce(c.first_seen_ms, seen),
            last_seen_ms=greatest(dialect, func.coalesce(c.last_seen_ms, 0), seen),
            received=c.received + bindparam("n_received"),
            duplicates=c.duplicates + bindparam("n_duplicates"),
        )
    )
