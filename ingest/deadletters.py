"""Messages that can never be stored, kept with the reason and the raw payload, in the state database
(table `dead_letters`): added by the writer; listed, shown, purged and claimed for a replay by the
people who look after them (`ingest.pipeline.replay`, the API, `sensorfleet deadletters`).

A replay claims its letters first: one UPDATE … RETURNING marks them with the replay's id for a lease,
and takes only letters no other replay holds (SQLite runs write transactions one at a time; PostgreSQL
re-checks the condition on each row it had to wait for). So two replays of one letter never both take
it, and a replay that dies lets its letters go when the lease ends.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Row, and_, bindparam, delete, func, insert, or_, select, update

from ingest.contract import device_in_topic
from ingest.state.database import StateDatabase
from ingest.state.schema import dead_letters

MAX_STORED_PAYLOAD = 64 * 1024
DEAD_LETTERS_KEPT = 100_000
CLAIM_LEASE_MS = 5 * 60 * 1000
"""How long a replay holds its letters: far longer than storing a batch of them takes."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    received_ms: int
    topic: str
    reason: str
    payload: bytes
    """At most MAX_STORED_PAYLOAD bytes of it; `payload_bytes` is the size that arrived."""
    payload_bytes: int = -1


@dataclass(frozen=True, slots=True)
class StoredLetter:
    """A dead letter as kept: with its id and the device its topic names (None when it names none)."""

    id: int
    received_ms: int
    topic: str
    device: str | None
    reason: str
    payload: bytes
    payload_bytes: int


@dataclass(frozen=True, slots=True)
class Selection:
    """Which letters: those with `ids` (when given) that also match every filter that is set."""

    ids: tuple[int, ...] | None = None
    device: str | None = None
    reason: str | None = None
    """Contained in the reason, ignoring case."""
    before_ms: int | None = None
    """Received before this time."""


@dataclass(frozen=True, slots=True)
class DeviceCount:
    device: str
    count: int


@dataclass(frozen=True, slots=True)
class Summary:
    """Counts and the newest letters' reasons, without payloads."""

    total: int
    newest: Sequence[StoredLetter]
    """Their payloads are left out (empty)."""


_COLUMNS = (
    dead_letters.c.id,
    dead_letters.c.received_ms,
    dead_letters.c.topic,
    dead_letters.c.device,
    dead_letters.c.reason,
    dead_letters.c.payload,
    dead_letters.c.payload_bytes,
)
_WITHOUT_PAYLOAD = tuple(c for c in _COLUMNS if c.name != "payload")


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
                "device": device_in_topic(d.topic),
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
        return [
            DeadLetter(s.received_ms, s.topic, s.reason, s.payload, s.payload_bytes)
            for s in self.page(Selection(), limit=limit)
        ]

    def count(self, selection: Selection | None = None) -> int:
        query = select(func.count()).select_from(dead_letters).where(_matching(selection or Selection()))
        with self.state.read() as db:
            return int(db.execute(query).scalar_one())

    def page(
        self, selection: Selection, before_id: int | None = None, limit: int = 100
    ) -> list[StoredLetter]:
        """Newest first: those matching `selection` with an id below `before_id`, at most `limit`."""
        c = dead_letters.c
        query = select(*_COLUMNS).where(_matching(selection)).order_by(c.id.desc()).limit(limit)
        if before_id is not None:
            query = query.where(c.id < before_id)
        with self.state.read() as db:
            return [_letter(r) for r in db.execute(query)]

    def get(self, letter_id: int) -> StoredLetter | None:
        with self.state.read() as db:
            row = db.execute(select(*_COLUMNS).where(dead_letters.c.id == letter_id)).one_or_none()
        return None if row is None else _letter(row)

    def purge(self, selection: Selection) -> int:
        """Deletes the letters `selection` matches (a replay's claim does not protect them); returns how
        many."""
        with self.state.write() as db:
            return db.execute(delete(dead_letters).where(_matching(selection))).rowcount

    def summary(self, device: str | None = None, newest: int = 10) -> Summary:
        """The count of all letters (or of `device`'s) and the newest `newest` of them, without payloads."""
        selection = Selection(device=device)
        c = dead_letters.c
        with self.state.read() as db:
            total = db.execute(
                select(func.count()).select_from(dead_letters).where(_matching(selection))
            ).scalar_one()
            rows = db.execute(
                select(*_WITHOUT_PAYLOAD).where(_matching(selection)).order_by(c.id.desc()).limit(newest)
            ).all()
        return Summary(
            int(total),
            [
                StoredLetter(r.id, r.received_ms, r.topic, r.device, r.reason, b"", r.payload_bytes)
                for r in rows
            ],
        )

    def per_device(self, after: str = "", limit: int = 100) -> list[DeviceCount]:
        """Letter counts of the devices with any, in device order after `after`, at most `limit`."""
        c = dead_letters.c
        query = (
            select(c.device, func.count())
            .where(c.device.is_not(None), c.device > after)
            .group_by(c.device)
            .order_by(c.device)
            .limit(limit)
        )
        with self.state.read() as db:
            return [DeviceCount(device, int(count)) for device, count in db.execute(query)]

    # Replays -------------------------------------------------------------------------------------
    def claim(self, selection: Selection, now_ms: int, limit: int) -> tuple[str, list[StoredLetter]]:
        """Takes at most `limit` of the letters `selection` matches, oldest first, that no other replay
        holds; returns the claim's id and the letters, held until `settle` or the lease's end."""
        c = dead_letters.c
        claim = uuid.uuid4().hex
        free = or_(c.claim.is_(None), c.claimed_until_ms < now_ms)
        wanted = select(c.id).where(_matching(selection), free).order_by(c.id).limit(limit)
        taking = (
            update(dead_letters)
            .where(c.id.in_(wanted.scalar_subquery()), free)
            .values(claim=claim, claimed_until_ms=now_ms + CLAIM_LEASE_MS)
            .returning(*_COLUMNS)
        )
        with self.state.write() as db:
            letters = sorted((_letter(r) for r in db.execute(taking)), key=lambda x: x.id)
        return claim, letters

    def settle(self, claim: str, stored: Collection[int], failed: Mapping[int, str]) -> None:
        """Ends a claim: the `stored` letters are deleted, the `failed` ones get their new reason, any
        other is let go as it was. Letters the claim no longer holds (purged, or its lease ended and
        another replay took them) are left alone."""
        c = dead_letters.c
        with self.state.write() as db:
            if stored:
                db.execute(delete(dead_letters).where(c.claim == claim, c.id.in_(list(stored))))
            if failed:
                db.execute(
                    update(dead_letters)
                    .where(c.claim == claim, c.id == bindparam("letter"))
                    .values(reason=bindparam("new_reason")),
                    [{"letter": i, "new_reason": r} for i, r in failed.items()],
                )
            db.execute(update(dead_letters).where(c.claim == claim).values(claim=None, claimed_until_ms=None))


def _matching(selection: Selection) -> ColumnElement[bool]:
    c = dead_letters.c
    conditions: list[ColumnElement[bool]] = []
    if selection.ids is not None:
        conditions.append(c.id.in_(list(selection.ids)))
    if selection.device is not None:
        conditions.append(c.device == selection.device)
    if selection.reason:
        conditions.append(func.lower(c.reason).contains(selection.reason.lower(), autoescape=True))
    if selection.before_ms is not None:
        conditions.append(c.received_ms < selection.before_ms)
    return and_(True, *conditions)


def _letter(r: Row[Any, Any, Any, Any, Any, Any, Any]) -> StoredLetter:
    return StoredLetter(r.id, r.received_ms, r.topic, r.device, r.reason, bytes(r.payload), r.payload_bytes)
