"""The device registry, in the state database: who was seen, their status, the recent changes of that
status, completeness per boot, command results, each device's static tags and the metric names it uses.

Updated by the writer after a batch is safe (so counts match what is stored) and read by the API; tags are
also set by `sensorfleet device tag` in another process while the service runs. Several ingest processes
may share one state database: every count is read and written in the same transaction, the devices'
rows locked first, so two processes counting the same device never lose or double a reading.

`Registry` opens every transaction; each concern is a class working inside them, one module and its
tables each (`ingest.state.schema` declares them):
- `presence`: `devices`, the row of each device (first and last seen, status, totals) — `DeviceInfo`;
- `completeness`: `seq_ranges`, the seqs received per boot and the counts of a batch — `BootCompleteness`;
- `status_history`: `status_changes`, written in the transaction that stores the status — `StatusChange`;
- `command_results`: `command_results`, the newest results per device;
- `tags`: `device_tags`, kept in memory and re-read when `tags_version` moves;
- `metric_names`: `device_metrics` and the one-time upgrade mark in `upgrades`.
What a process keeps in memory (known ids, claimed metric names, tags) changes only after the
transaction that wrote it commits, so a failed write leaves memory as the database is.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from sqlalchemy import func, select

from ingest.codec.payload import Status, Telemetry
from ingest.contract import COMMAND_RESULTS_KEPT, MAX_METRICS_PER_DEVICE
from ingest.registry.command_results import CommandResults
from ingest.registry.completeness import Completeness
from ingest.registry.metric_names import MetricNames
from ingest.registry.presence import DeviceInfo, Presence
from ingest.registry.status_history import STATUS_CHANGES_KEPT, StatusChange, StatusHistory
from ingest.registry.tags import TAGS_CHECK_S, Tags, check_device_id, check_tags
from ingest.state.database import StateDatabase
from ingest.state.schema import devices

log = logging.getLogger(__name__)

StatusListener = Callable[[str, Status, StatusChange | None], None]
"""(device, status, the change it made or None)"""


class Registry:
    def __init__(
        self,
        state: StateDatabase,
        strict: bool = False,
        tags_check_s: float = TAGS_CHECK_S,
        clock: Callable[[], float] = time.monotonic,
        status_changes_kept: int = STATUS_CHANGES_KEPT,
        max_metrics: int = MAX_METRICS_PER_DEVICE,
        command_results_kept: int = COMMAND_RESULTS_KEPT,
    ):
        self.state = state
        self.strict = strict
        self._lock = threading.Lock()
        with state.read() as db:
            self._presence = Presence(db)
            self._tags = Tags(db, tags_check_s, clock)
            self._metric_names = MetricNames(db, max_metrics)
        self._status_history = StatusHistory(status_changes_kept)
        self._command_results = CommandResults(command_results_kept)
        self.status_listeners: list[StatusListener] = []
        """Called after each status is stored, in the writer's thread (e.g. the API's event stream)."""

    @property
    def max_metrics(self) -> int:
        return self._metric_names.max_metrics

    def accepts(self, device: str) -> bool:
        """In strict mode only devices the registry knows are stored; otherwise devices make themselves
        known."""
        return not self.strict or device in self._presence.known

    def claim_metrics(self, device: str, names: set[str]) -> set[str]:
        """Admits the device's use of `names`; returns the new ones that would take it past `max_metrics`
        (nothing is claimed then). Claimed names are kept in memory at once (the router asks from the
        network thread) and stored with the counts of the telemetry that used them."""
        if self._metric_names.claimed(device, names):
            return set()
        with self._lock:
            return self._metric_names.claim(device, names)

    def needs_metric_names(self) -> bool:
        """True for a registry kept before device metric names were: the store has to name them once."""
        with self._lock, self.state.write() as db:
            if MetricNames.upgraded(db):
                return False
            if self._presence.known:
                return True
            MetricNames.mark_upgraded(db, 0)  # a new registry: there is nothing to learn
            return False

    def seed_metric_names(self, names: Mapping[str, Iterable[str]]) -> None:
        """Adds the metric names the store holds for each device (the upgrade `needs_metric_names` asks
        for), at most `max_metrics` per device."""
        pairs = self._metric_names.capped(names)
        with self._lock:
            with self.state.write() as db:
                MetricNames.write(db, pairs)
                MetricNames.mark_upgraded(db, int(time.time() * 1000))
            self._metric_names.keep(pairs)

    def record(self, messages: Iterable[tuple[Telemetry, int]]) -> int:
        """Counts stored telemetry (message, received_ms); returns the readings that were duplicates.

        Counts, ranges and metric names are committed together: a failed write leaves them all as they
        were, so the writer may apply the same messages again without counting them twice."""
        batch = list(messages)
        if not batch:
            return 0
        with self._lock:
            pairs = self._metric_names.unstored(batch)
            with self.state.write() as db:
                Presence.lock(db, (t.device for t, _ in batch))
                tally = Completeness.tally(db, batch)
                Presence.count(db, tally.devices)
                Completeness.write(db, tally)
                MetricNames.write(db, pairs)
            self._metric_names.keep(pairs)
            self._presence.keep(tally.devices)
        return tally.duplicates

    def set_status(self, device: str, status: Status, received_ms: int, retained: bool = False) -> None:
        """A retained status is the broker's copy from earlier: it does not say the device was seen now.

        A status that changes `online`, `boot` or `fw` is also added to the device's status changes (and
        given to `status_listeners` with the status). A retained one is compared like any other: the
        broker redelivers it on every reconnect, usually repeating what is known (nothing to add), but
        after an outage it may be the only news of a change, and the fresh copy of a change queued for
        the session may arrive after it (then it is the repeat)."""
        with self._lock:
            with self.state.write() as db:
                known = Presence.set_status(db, device, status, received_ms, retained)
                change = self._status_history.add(db, device, known, status, received_ms, retained)
            self._presence.keep((device,))
        for listener in self.status_listeners:
            try:
                listener(device, status, change)
            except Exception:  # the status is stored: a listener's failure must not make it a dead letter
                log.exception("status listener %r failed on %s", listener, device)

    def status_changes(self, device: str, limit: int = STATUS_CHANGES_KEPT) -> list[StatusChange]:
        """The device's recorded status changes, newest first."""
        with self.state.read() as db:
            return StatusHistory.changes(db, device, limit)

    def record_command_result(self, device: str, command_id: str, body: bytes, received_ms: int) -> None:
        with self.state.write() as db:
            self._command_results.add(db, device, command_id, body, received_ms)

    def metric_in_use(self, metric: str) -> bool:
        with self.state.read() as db:
            return MetricNames.in_use(db, metric)

    def command_result(self, device: str, command_id: str) -> dict[str, Any] | None:
        with self.state.read() as db:
            return CommandResults.get(db, device, command_id)

    def tags_for(self, device: str) -> Mapping[str, str]:
        """The device's tags as of at most `tags_check_s` ago; a dict lookup unless it is time to check."""
        if self._tags.due():
            with self._lock, self.state.read() as db:
                self._tags.checked()
                self._tags.reload_if_changed(db)
        return self._tags.of(device)

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
            with self.state.write() as db:
                now, version = Tags.write(db, device, tags, remove, replace)
            return self._tags.keep(device, now, version)

    def device(self, device: str) -> DeviceInfo | None:
        found = self._select(devices.c.id == device)
        return found[0] if found else None

    def devices(self, after: str = "", limit: int = -1) -> list[DeviceInfo]:
        """Devices in id order: those after `after`, at most `limit` of them (all with -1)."""
        return self._select(devices.c.id > after, None if limit < 0 else limit)

    def devices_named(self, ids: Iterable[str]) -> list[DeviceInfo]:
        """The known ones of `ids`, in id order."""
        wanted = sorted(set(ids))
        return [
            d
            for start in range(0, len(wanted), 500)
            for d in self._select(devices.c.id.in_(wanted[start : start + 500]))
        ]

    def count(self) -> int:
        with self.state.read() as db:
            return int(db.scalar(select(func.count()).select_from(devices)) or 0)

    def _select(self, where: Any, limit: int | None = None) -> list[DeviceInfo]:
        with self._lock, self.state.read() as db:
            self._tags.reload_if_changed(db)
            found = Presence.select(db, where, limit=limit)
            boots = Completeness.boots(db, [d.id for d in found])
            return [
                dataclasses.replace(
                    d,
                    boots=boots.get(d.id, []),
                    tags=dict(self._tags.of(d.id)),
                    metrics=self._metric_names.of(d.id),
                )
                for d in found
            ]
