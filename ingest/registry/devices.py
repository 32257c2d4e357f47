"""The device registry (SQLite under the data dir): who was seen, their status, the recent changes of that
status, completeness per boot, and each device's static tags.

Updated by the writer after a batch is safe (so counts match what is stored) and read by the API.
Tags are set by `sensorfleet device tag` in another process while the service runs: the service keeps
them in memory and re-reads them when SQLite's `data_version` says another connection committed,
checked at most every `tags_check_s` on the write path.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from ingest.codec.payload import Status, Telemetry
from ingest.contract import COMMAND_RESULTS_KEPT, MAX_METRICS_PER_DEVICE
from ingest.database import open_database, write_transaction
from ingest.registry.completeness import SeqRanges
from ingest.registry.tags import check_device_id, check_tags

BOOTS_KEPT = 8
STATUS_CHANGES_KEPT = 500
"""Per device; older status changes are deleted as new ones are recorded."""
REGISTRY_FILE = "registry.sqlite"
"""Under the data dir; opened by the service and by `sensorfleet device tag`."""
_SCHEMA = """
CREATE TABLE IF NOT EXISTS devices (
    id TEXT PRIMARY KEY, first_seen_ms INTEGER, last_seen_ms INTEGER, online INTEGER,
    status_ms INTEGER, fw TEXT, rssi REAL, boot INTEGER, status TEXT NOT NULL DEFAULT '{}',
    received INTEGER NOT NULL DEFAULT 0, duplicates INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS seq_ranges (
    device TEXT NOT NULL, boot INTEGER NOT NULL, lo INTEGER NOT NULL, hi INTEGER NOT NULL,
    PRIMARY KEY (device, boot, lo)
);
CREATE TABLE IF NOT EXISTS device_tags (
    device TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (device, key)
);
CREATE TABLE IF NOT EXISTS status_changes (
    id INTEGER PRIMARY KEY, device TEXT NOT NULL, at_ms INTEGER NOT NULL, online INTEGER NOT NULL,
    fw TEXT, boot INTEGER, changed TEXT NOT NULL, retained INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS status_changes_by_device ON status_changes (device, id);
CREATE TABLE IF NOT EXISTS command_results (
    device TEXT NOT NULL, id TEXT NOT NULL, received_ms INTEGER NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (device, id)
);
CREATE TABLE IF NOT EXISTS device_metrics (
    device TEXT NOT NULL, metric TEXT NOT NULL, PRIMARY KEY (device, metric)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS upgrades (name TEXT PRIMARY KEY, done_ms INTEGER NOT NULL);
"""


@dataclass(frozen=True)
class BootCompleteness:
    boot: int
    received: int
    missing: list[tuple[int, int]]


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


_NO_TAGS: Mapping[str, str] = {}
TAGS_CHECK_S = 2.0


class Registry:
    def __init__(
        self,
        path: Path,
        strict: bool = False,
        tags_check_s: float = TAGS_CHECK_S,
        clock: Callable[[], float] = time.monotonic,
        status_changes_kept: int = STATUS_CHANGES_KEPT,
        max_metrics: int = MAX_METRICS_PER_DEVICE,
        command_results_kept: int = COMMAND_RESULTS_KEPT,
    ):
        self.strict, self.status_changes_kept = strict, status_changes_kept
        self.max_metrics, self.command_results_kept = max_metrics, command_results_kept
        # Counts, not readings: after a power cut the last few batches may be counted again, never lost.
        self._db = open_database(path, _SCHEMA, synchronous="NORMAL")
        self._lock = threading.Lock()
        self._known = {row[0] for row in self._db.execute("SELECT id FROM devices")}
        self._ranges: dict[tuple[str, int], SeqRanges] = {}
        for device, boot, lo, hi in self._db.execute(
            "SELECT device, boot, lo, hi FROM seq_ranges ORDER BY lo"
        ):
            self._ranges.setdefault((device, boot), SeqRanges()).ranges.append((lo, hi))
        self._stored_metrics: set[tuple[str, str]] = set(
            self._db.execute("SELECT device, metric FROM device_metrics")
        )
        """(device, metric) already in the table: a batch inserts only the pairs it adds."""
        self._metrics: dict[str, frozenset[str]] = {}
        """Each device's claimed names: those stored, and those of telemetry on its way to the store."""
        for device, metric in self._stored_metrics:
            self._metrics[device] = self._metrics.get(device, frozenset()) | {metric}
        self._tags_check_s, self._clock = tags_check_s, clock
        self._tags: Mapping[str, Mapping[str, str]] = {}
        self._data_version = -1
        self._tags_checked_at = clock()
        with self._lock:
            self._reload_tags_if_changed()

    def accepts(self, device: str) -> bool:
        """In strict mode only registered devices are stored; otherwise devices register themselves."""
        return not self.strict or device in self._known

    def claim_metrics(self, device: str, names: set[str]) -> set[str]:
        """Admits the device's use of `names`; returns the new ones that would take it past `max_metrics`
        (nothing is claimed then). Claimed names are kept in memory at once (the router asks from the
        network thread) and stored with the counts of the telemetry that used them."""
        known = self._metrics.get(device, frozenset())
        new = names - known
        if not new:
            return set()
        with self._lock:
            known = self._metrics.get(device, frozenset())
            new = names - known
            if len(known) + len(new) > self.max_metrics:
                return new
            self._metrics[device] = known | new
        return set()

    def needs_metric_names(self) -> bool:
        """True for a registry kept before device metric names were: the store has to name them once."""
        with self._lock:
            done = self._db.execute("SELECT 1 FROM upgrades WHERE name = 'metric_names'").fetchone()
            if done is None and not self._known:
                self._db.execute("INSERT INTO upgrades VALUES ('metric_names', 0)")
                return False
        return done is None

    def seed_metric_names(self, names: Mapping[str, Iterable[str]]) -> None:
        """Adds the metric names the store holds for each device (the upgrade `needs_metric_names` asks
        for), at most `max_metrics` per device."""
        rows = {(d, m) for d, metrics in names.items() for m in sorted(metrics)[: self.max_metrics]}
        with self._lock:
            with write_transaction(self._db):
                self._db.executemany("INSERT OR IGNORE INTO device_metrics VALUES (?, ?)", rows)
                self._db.execute(
                    "INSERT OR REPLACE INTO upgrades VALUES ('metric_names', ?)", (int(time.time() * 1000),)
                )
            self._stored_metrics |= rows
            for device, metric in rows:
                self._metrics[device] = self._metrics.get(device, frozenset()) | {metric}

    def register(self, device: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO devices (id) VALUES (?)", (device,))
            self._known.add(device)

    def record(self, messages: Iterable[tuple[Telemetry, int]]) -> int:
        """Counts stored telemetry (message, received_ms); returns the readings that were duplicates."""
        per_device: dict[str, list[int]] = {}  # device → [received, duplicates, last_seen]
        metrics: set[tuple[str, str]] = set()
        total_duplicates = 0
        with self._lock:
            # On copies, swapped in after the commit: a failed write leaves the counts as they were, so
            # the writer may apply the same messages again without counting them twice.
            ranges_now: dict[tuple[str, int], SeqRanges] = {}
            for t, received_ms in messages:
                counts = per_device.setdefault(t.device, [0, 0, 0])
                counts[0] += len(t.points)
                counts[2] = max(counts[2], received_ms)
                metrics.update((t.device, k) for p in t.points for k in p.fields)
                if t.boot is not None and t.seq is not None:
                    key = (t.device, t.boot)
                    if key not in ranges_now:
                        ranges_now[key] = SeqRanges(list(self._ranges.get(key, SeqRanges()).ranges))
                    duplicates = ranges_now[key].add(t.seq, t.seq + len(t.points) - 1)
                    counts[1] += duplicates
                    total_duplicates += duplicates
            metrics -= self._stored_metrics
            with write_transaction(self._db):
                self._db.executemany(
                    "INSERT INTO devices (id, first_seen_ms, last_seen_ms, received, duplicates) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                    "first_seen_ms = COALESCE(first_seen_ms, excluded.first_seen_ms), "
                    "last_seen_ms = MAX(COALESCE(last_seen_ms, 0), excluded.last_seen_ms), "
                    "received = received + excluded.received, "
                    "duplicates = duplicates + excluded.duplicates",
                    [(d, seen, seen, received, dups) for d, (received, dups, seen) in per_device.items()],
                )
                self._db.executemany("DELETE FROM seq_ranges WHERE device = ? AND boot = ?", list(ranges_now))
                self._db.executemany(
                    "INSERT INTO seq_ranges VALUES (?, ?, ?, ?)",
                    [(d, b, lo, hi) for (d, b), r in ranges_now.items() for lo, hi in r.ranges],
                )
                self._db.executemany("INSERT OR IGNORE INTO device_metrics VALUES (?, ?)", metrics)
                forgotten = self._old_boots({**self._ranges, **ranges_now}, {d for d, _ in ranges_now})
                self._db.executemany("DELETE FROM seq_ranges WHERE device = ? AND boot = ?", forgotten)
            self._ranges.update(ranges_now)
            for key in forgotten:
                del self._ranges[key]
            self._stored_metrics |= metrics
            for device, metric in metrics:
                self._metrics[device] = self._metrics.get(device, frozenset()) | {metric}
            self._known.update(per_device)
        return total_duplicates

    def set_status(self, device: str, status: Status, received_ms: int, retained: bool = False) -> None:
        """A retained status is the broker's copy from earlier: it does not say the device was seen now.

        A status that changes `online`, `boot` or `fw` is also added to the device's status changes. A
        retained one is compared like any other: the broker redelivers it on every reconnect, usually
        repeating what is known (nothing to add), but after an outage it may be the only news of a change,
        and the fresh copy of a change queued for the session may arrive after it (then it is the repeat)."""
        birth = {"online": status.online, "fw": status.fw, "boot": status.boot, "rssi": status.rssi}
        body = orjson.dumps(
            {**{k: v for k, v in birth.items() if v is not None}, **(status.extra or {})}
        ).decode()
        with self._lock:
            with write_transaction(self._db):
                known = self._db.execute(
                    "SELECT online, fw, boot FROM devices WHERE id = ?", (device,)
                ).fetchone() or (None, None, None)
                self._db.execute(
                    "INSERT INTO devices "
                    "(id, first_seen_ms, last_seen_ms, online, status_ms, fw, rssi, boot, status) "
                    "VALUES (?1, ?2, ?2, ?3, ?2, ?4, ?5, ?6, ?7) ON CONFLICT (id) DO UPDATE SET "
                    "first_seen_ms = COALESCE(first_seen_ms, excluded.first_seen_ms), "
                    "last_seen_ms = CASE WHEN ?8 THEN last_seen_ms "
                    "ELSE MAX(COALESCE(last_seen_ms, 0), excluded.last_seen_ms) END, "
                    "online = excluded.online, "
                    "status_ms = excluded.status_ms, fw = COALESCE(excluded.fw, fw), "
                    "rssi = COALESCE(excluded.rssi, rssi), boot = COALESCE(excluded.boot, boot), "
                    "status = excluded.status",
                    (device, received_ms, status.online, status.fw, status.rssi, status.boot, body, retained),
                )
                self._record_change(device, known, status, received_ms, retained)
            self._known.add(device)

    def status_changes(self, device: str, limit: int = STATUS_CHANGES_KEPT) -> list[StatusChange]:
        """The device's recorded status changes, newest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT at_ms, online, fw, boot, changed, retained FROM status_changes "
                "WHERE device = ? ORDER BY id DESC LIMIT ?",
                (device, limit),
            ).fetchall()
        return [
            StatusChange(at, bool(online), fw, boot, tuple(changed.split(",")), bool(retained))
            for at, online, fw, boot, changed, retained in rows
        ]

    def record_command_result(self, device: str, command_id: str, body: bytes, received_ms: int) -> None:
        """Keeps the device's newest `command_results_kept` results (a rowid per insert orders them)."""
        with self._lock, write_transaction(self._db):
            self._db.execute(
                "INSERT OR REPLACE INTO command_results VALUES (?, ?, ?, ?)",
                (device, command_id, received_ms, body.decode()),
            )
            self._db.execute(
                "DELETE FROM command_results WHERE device = ?1 AND rowid <= (SELECT rowid FROM "
                "command_results WHERE device = ?1 ORDER BY rowid DESC LIMIT 1 OFFSET ?2)",
                (device, self.command_results_kept),
            )

    def command_result(self, device: str, command_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT body FROM command_results WHERE device = ? AND id = ?", (device, command_id)
            ).fetchone()
        return None if row is None else dict(orjson.loads(row[0]))

    def tags_for(self, device: str) -> Mapping[str, str]:
        """The device's tags as of at most `tags_check_s` ago; a dict lookup unless it is time to check."""
        if self._clock() - self._tags_checked_at >= self._tags_check_s:
            with self._lock:
                self._tags_checked_at = self._clock()
                self._reload_tags_if_changed()
        return self._tags.get(device, _NO_TAGS)

    def update_tags(
        self,
        device: str,
        tags: Mapping[str, str] | None = None,
        remove: Iterable[str] = (),
        replace: bool = False,
    ) -> Mapping[str, str]:
        """Sets `tags` (the others kept, or dropped when `replace`) and removes `remove`, in one
        transaction; returns the device's tags now. Nothing changes when any key or value is invalid."""
        tags, remove = dict(tags or {}), list(remove)
        check_device_id(device)
        check_tags(tags, remove)
        with self._lock:
            with write_transaction(self._db):
                if replace:
                    self._db.execute("DELETE FROM device_tags WHERE device = ?", (device,))
                self._db.executemany(
                    "DELETE FROM device_tags WHERE device = ? AND key = ?", [(device, k) for k in remove]
                )
                self._db.executemany(
                    "INSERT OR REPLACE INTO device_tags VALUES (?, ?, ?)",
                    [(device, k, v) for k, v in tags.items()],
                )
                rows = self._db.execute(
                    "SELECT key, value FROM device_tags WHERE device = ? ORDER BY key", (device,)
                ).fetchall()
            # A new dict, not an update in place: the write path reads it without the lock.
            updated = {d: t for d, t in self._tags.items() if d != device}
            if rows:
                updated[device] = dict(rows)
            self._tags = updated
            return updated.get(device, _NO_TAGS)

    def device(self, device: str) -> DeviceInfo | None:
        found = self._select("WHERE id = ?", (device,))
        return found[0] if found else None

    def devices(self, after: str = "", limit: int = -1) -> list[DeviceInfo]:
        """Devices in id order: those after `after`, at most `limit` of them (all with -1)."""
        return self._select("WHERE id > ? ORDER BY id LIMIT ?", (after, limit))

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _reload_tags_if_changed(self) -> None:
        """Re-reads the tags when another connection (the CLI) has committed since the last look.

        `data_version` changes only for commits of other connections, so the service's own writes of
        counts and status do not cost a re-read; any other commit costs one small one. Under the lock."""
        version = self._db.execute("PRAGMA data_version").fetchone()[0]
        if version == self._data_version:
            return
        tags: dict[str, dict[str, str]] = {}
        for device, key, value in self._db.execute("SELECT device, key, value FROM device_tags"):
            tags.setdefault(device, {})[key] = value
        self._tags, self._data_version = tags, version

    def _select(self, where: str, args: tuple[object, ...]) -> list[DeviceInfo]:
        with self._lock:
            self._reload_tags_if_changed()
            rows = self._db.execute(
                "SELECT id, online, first_seen_ms, last_seen_ms, fw, rssi, boot, status, "
                f"received, duplicates FROM devices {where}",
                args,
            ).fetchall()
            wanted = {r[0] for r in rows}
            boots = {
                key: BootCompleteness(key[1], r.received(), r.missing())
                for key, r in self._ranges.items()
                if key[0] in wanted
            }
            tags, metrics = self._tags, self._metrics
        return [
            DeviceInfo(
                id=r[0],
                online=None if r[1] is None else bool(r[1]),
                first_seen_ms=r[2],
                last_seen_ms=r[3],
                fw=r[4],
                rssi=r[5],
                boot=r[6],
                status=orjson.loads(r[7]),
                received=r[8],
                duplicates=r[9],
                boots=sorted((b for (d, _), b in boots.items() if d == r[0]), key=lambda b: b.boot),
                tags=dict(tags.get(r[0], _NO_TAGS)),
                metrics=tuple(sorted(metrics.get(r[0], ()))),
            )
            for r in rows
        ]

    def _record_change(
        self,
        device: str,
        known: tuple[Any, Any, Any],
        status: Status,
        received_ms: int,
        retained: bool,
    ) -> None:
        """In `set_status`'s transaction; `known` is (online, fw, boot) before this status.

        A status without `fw` or `boot` (the last will) keeps them as they were: it changes only `online`."""
        online, fw, boot = known
        compared: tuple[tuple[str, object, object], ...] = (
            ("online", status.online, online),
            ("boot", status.boot, boot),
            ("fw", status.fw, fw),
        )
        changed = [name for name, now, before in compared if now is not None and now != before]
        if not changed:
            return
        self._db.execute(
            "INSERT INTO status_changes (device, at_ms, online, fw, boot, changed, retained) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                device,
                received_ms,
                status.online,
                status.fw if status.fw is not None else fw,
                status.boot if status.boot is not None else boot,
                ",".join(changed),
                retained,
            ),
        )
        # One index seek to the oldest row kept: a status change is rare, trimming at each one is cheap.
        self._db.execute(
            "DELETE FROM status_changes WHERE device = ?1 AND id <= (SELECT id FROM status_changes "
            "WHERE device = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
            (device, self.status_changes_kept),
        )

    @staticmethod
    def _old_boots(ranges: Mapping[tuple[str, int], SeqRanges], devices: set[str]) -> list[tuple[str, int]]:
        """The boots of `devices` beyond the newest BOOTS_KEPT."""
        forgotten = []
        for device in devices:
            boots = sorted(b for d, b in ranges if d == device)
            forgotten += [(device, boot) for boot in boots[:-BOOTS_KEPT]]
        return forgotten
