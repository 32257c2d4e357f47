"""Bundles and rollouts in the state database, so that every ingest process serves the same chunks
and a rollout goes on where it was after a restart (tables `firmware_bundles`, `firmware_files`,
`rollouts`, `rollout_devices`)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import orjson
from sqlalchemy import Connection, RowMapping, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from ingest.errors import FirmwareError, NameTakenError
from ingest.ota.bundle import Bundle, BundleFile
from ingest.ota.rollouts import DeviceState, Member, RolloutState, WaveSize, assign_waves
from ingest.state.database import StateDatabase
from ingest.state.schema import firmware_bundles, firmware_files, rollout_devices, rollouts

CACHE_BYTES = 8 * 1024 * 1024
"""File contents kept in memory for chunk requests (a bundle is at most 1.5 MiB)."""


@dataclass(frozen=True)
class BundleInfo:
    version: str
    sha256: str
    size: int
    files: int
    created_ms: int


@dataclass(frozen=True)
class Rollout:
    id: int
    version: str
    target: str
    canary: int
    wave: str
    health_s: int
    state: RolloutState
    reason: str | None
    created_ms: int
    updated_ms: int


class FirmwareStore:
    def __init__(self, state: StateDatabase):
        self.state = state
        self._files: OrderedDict[tuple[str, str], bytes] = OrderedDict()
        self._bundles: dict[str, Bundle] = {}
        self._lock = threading.Lock()

    def add(self, bundle: Bundle, contents: Mapping[str, bytes], now_ms: int) -> None:
        try:
            with self.state.write() as db:
                db.execute(
                    insert(firmware_bundles),
                    {
                        "version": bundle.version,
                        "sha256": bundle.sha256,
                        "size": bundle.size,
                        "manifest": bundle.manifest,
                        "created_ms": now_ms,
                    },
                )
                db.execute(
                    insert(firmware_files),
                    [
                        {"version": bundle.version, "path": f.path, "data": contents[f.path]}
                        for f in bundle.files
                    ],
                )
        except IntegrityError:
            why = f"firmware {bundle.version} exists: remove it first or pick a new version"
            raise NameTakenError(why) from None

    def bundles(self) -> list[BundleInfo]:
        with self.state.read() as db:
            rows = db.execute(select(firmware_bundles).order_by(firmware_bundles.c.created_ms)).all()
        return [
            BundleInfo(r.version, r.sha256, r.size, len(_bundle(r.version, r.manifest).files), r.created_ms)
            for r in rows
        ]

    def get(self, version: str) -> Bundle | None:
        found = self._bundles.get(version)
        if found is not None:
            return found
        with self.state.read() as db:
            c = firmware_bundles.c
            manifest = db.scalar(select(c.manifest).where(c.version == version))
        if manifest is None:
            return None
        bundle = _bundle(version, manifest)
        with self._lock:
            self._bundles[version] = bundle
        return bundle

    def read_file(self, bundle: Bundle, path: str) -> bytes:
        key = (bundle.version, path)
        with self._lock:
            if key in self._files:
                self._files.move_to_end(key)
                return self._files[key]
        c = firmware_files.c
        with self.state.read() as db:
            data = db.scalar(select(c.data).where(c.version == bundle.version, c.path == path))
        if data is None:
            raise FirmwareError(f"firmware {bundle.version} has no file {path}")
        with self._lock:
            self._files[key] = data
            while sum(len(v) for v in self._files.values()) > CACHE_BYTES:
                self._files.popitem(last=False)
        return bytes(data)

    def remove(self, version: str) -> bool:
        """Removes the bundle unless a rollout that is not done uses it."""
        with self.state.write() as db:
            busy = db.scalar(
                select(rollouts.c.id).where(rollouts.c.version == version, rollouts.c.state != "done")
            )
            if busy is not None:
                raise FirmwareError(f"rollout {busy} of {version} is not done: it still needs the bundle")
            gone = db.execute(delete(firmware_bundles).where(firmware_bundles.c.version == version)).rowcount
            db.execute(delete(firmware_files).where(firmware_files.c.version == version))
        with self._lock:
            self._bundles.pop(version, None)
            for key in [k for k in self._files if k[0] == version]:
                del self._files[key]
        return bool(gone)


def _bundle(version: str, manifest: bytes) -> Bundle:
    doc = orjson.loads(manifest)
    files = tuple(BundleFile(f["path"], f["size"], f["sha256"]) for f in doc["files"])
    return Bundle(version, files, doc["sha256"], bytes(manifest))


class RolloutStore:
    def __init__(self, state: StateDatabase):
        self.state = state

    def create(
        self,
        version: str,
        devices: Sequence[str],
        target: str,
        canary: int,
        wave: WaveSize,
        health_s: int,
        now_ms: int,
    ) -> int:
        waves = assign_waves(devices, canary, wave)
        with self.state.write() as db:
            row = {
                "version": version,
                "target": target,
                "canary": canary,
                "wave": str(wave),
                "health_s": health_s,
                "state": RolloutState.RUNNING,
                "created_ms": now_ms,
                "updated_ms": now_ms,
            }
            rollout_id = int(db.execute(insert(rollouts).returning(rollouts.c.id), row).scalar_one())
            db.execute(
                insert(rollout_devices),
                [
                    {"rollout_id": rollout_id, "device": d, "wave": w, "state": "pending", "offers": 0}
                    for d, w in sorted(waves.items())
                ],
            )
        return rollout_id

    def rollouts(self, states: Sequence[RolloutState] = ()) -> list[Rollout]:
        query = select(rollouts).order_by(rollouts.c.id)
        if states:
            query = query.where(rollouts.c.state.in_([s.value for s in states]))
        with self.state.read() as db:
            return [_rollout(r._mapping) for r in db.execute(query)]

    def get(self, rollout_id: int) -> Rollout | None:
        with self.state.read() as db:
            row = db.execute(select(rollouts).where(rollouts.c.id == rollout_id)).first()
        return None if row is None else _rollout(row._mapping)

    def members(self, rollout_id: int) -> list[Member]:
        c = rollout_devices.c
        with self.state.read() as db:
            rows = db.execute(
                select(c.device, c.wave, c.state, c.offers, c.offered_ms, c.trial_ms, c.done_ms, c.reason)
                .add_columns(c.started_ms)
                .where(c.rollout_id == rollout_id)
                .order_by(c.wave, c.device)
            ).all()
        return [Member(r[0], r[1], DeviceState(r[2]), *r[3:]) for r in rows]

    def save(self, rollout_id: int, before: Sequence[Member], after: Sequence[Member], now_ms: int) -> None:
        """Writes the members that changed, each only if no other process changed it meanwhile."""
        changed = [(b, a) for b, a in zip(before, after, strict=True) if a != b]
        if not changed:
            return
        c = rollout_devices.c
        with self.state.write() as db:
            for b, a in changed:
                db.execute(
                    update(rollout_devices)
                    .where(c.rollout_id == rollout_id, c.device == b.device, c.state == b.state)
                    .values(
                        state=a.state,
                        trial_ms=a.trial_ms,
                        done_ms=a.done_ms,
                        reason=a.reason,
                        started_ms=a.started_ms,
                    )
                )
            _touch(db, rollout_id, now_ms)

    def claim_offer(self, rollout_id: int, member: Member, now_ms: int) -> bool:
        """Records an offer to the member's board; False if another process made it first."""
        c = rollout_devices.c
        with self.state.write() as db:
            done = db.execute(
                update(rollout_devices)
                .where(c.rollout_id == rollout_id, c.device == member.device, c.offers == member.offers)
                .values(offers=member.offers + 1, offered_ms=now_ms, state=_offered(member.state))
            ).rowcount
        return bool(done)

    def set_state(
        self, rollout_id: int, state: RolloutState, reason: str | None, now_ms: int, expect: RolloutState
    ) -> bool:
        with self.state.write() as db:
            moved = db.execute(
                update(rollouts)
                .where(rollouts.c.id == rollout_id, rollouts.c.state == expect)
                .values(state=state, reason=reason, updated_ms=now_ms)
            ).rowcount
        return bool(moved)

    def offered(self, device: str, version: str) -> bool:
        """True when a running rollout of `version` has offered it to `device`: what a board may pull."""
        c = rollout_devices.c
        with self.state.read() as db:
            found = db.scalar(
                select(c.rollout_id)
                .join(rollouts, rollouts.c.id == c.rollout_id)
                .where(
                    c.device == device,
                    c.offers > 0,
                    rollouts.c.version == version,
                    rollouts.c.state == RolloutState.RUNNING,
                )
                .limit(1)
            )
        return found is not None


def _offered(state: DeviceState) -> DeviceState:
    return DeviceState.OFFERED if state == DeviceState.PENDING else state


def _touch(db: Connection, rollout_id: int, now_ms: int) -> None:
    db.execute(update(rollouts).where(rollouts.c.id == rollout_id).values(updated_ms=now_ms))


def _rollout(row: RowMapping) -> Rollout:
    return Rollout(
        row["id"],
        row["version"],
        row["target"],
        row["canary"],
        row["wave"],
        row["health_s"],
        RolloutState(row["state"]),
        row["reason"],
        row["created_ms"],
        row["updated_ms"],
    )
