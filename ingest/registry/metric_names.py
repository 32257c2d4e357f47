"""Metric names: table `device_metrics`, the names each device has used (at most `max_metrics`), so its
newest values cost one bounded store request; and table `upgrades`, the mark that a registry kept before
those names were has learned them from the store, once."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping

from ingest.codec.payload import Telemetry
from ingest.contract import MAX_METRICS_PER_DEVICE


class MetricNames:
    """Names are claimed in memory at once (the router asks from the network thread) and stored with the
    counts of the telemetry that used them. The caller holds the registry's lock for `claim` and the
    writes, opens the transactions the writes run in and calls `keep` once they are committed."""

    SCHEMA = """
    CREATE TABLE IF NOT EXISTS device_metrics (
        device TEXT NOT NULL, metric TEXT NOT NULL, PRIMARY KEY (device, metric)
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS upgrades (name TEXT PRIMARY KEY, done_ms INTEGER NOT NULL);
    """

    def __init__(self, db: sqlite3.Connection, max_metrics: int = MAX_METRICS_PER_DEVICE):
        self._db, self.max_metrics = db, max_metrics
        self._stored: set[tuple[str, str]] = set(db.execute("SELECT device, metric FROM device_metrics"))
        """(device, metric) already in the table: a batch inserts only the pairs it adds."""
        self._claimed: dict[str, frozenset[str]] = {}
        """Each device's claimed names: those stored, and those of telemetry on its way to the store."""
        self._claim_stored(self._stored)

    def claimed(self, device: str, names: set[str]) -> bool:
        """True if the device has claimed all of `names`: a look that needs no lock."""
        return names <= self._claimed.get(device, frozenset())

    def claim(self, device: str, names: set[str]) -> set[str]:
        """Returns the new names that would take the device past `max_metrics` (nothing is claimed then)."""
        known = self._claimed.get(device, frozenset())
        new = names - known
        if len(known) + len(new) > self.max_metrics:
            return new
        self._claimed[device] = known | new
        return set()

    def of(self, device: str) -> tuple[str, ...]:
        return tuple(sorted(self._claimed.get(device, ())))

    def unstored(self, messages: Iterable[tuple[Telemetry, int]]) -> set[tuple[str, str]]:
        """The (device, metric) pairs the telemetry uses that are not in the table yet."""
        return {(t.device, k) for t, _ in messages for p in t.points for k in p.fields} - self._stored

    def capped(self, names: Mapping[str, Iterable[str]]) -> set[tuple[str, str]]:
        """At most `max_metrics` of each device's names, the first in sorted order."""
        return {(d, m) for d, metrics in names.items() for m in sorted(metrics)[: self.max_metrics]}

    def write(self, pairs: set[tuple[str, str]]) -> None:
        self._db.executemany("INSERT OR IGNORE INTO device_metrics VALUES (?, ?)", pairs)

    def keep(self, pairs: set[tuple[str, str]]) -> None:
        """After `write` committed."""
        self._stored |= pairs
        self._claim_stored(pairs)

    def upgraded(self) -> bool:
        """True once the registry holds its devices' names: learned from the store, or none to learn."""
        return self._db.execute("SELECT 1 FROM upgrades WHERE name = 'metric_names'").fetchone() is not None

    def mark_upgraded(self, done_ms: int) -> None:
        self._db.execute("INSERT OR REPLACE INTO upgrades VALUES ('metric_names', ?)", (done_ms,))

    def _claim_stored(self, pairs: Iterable[tuple[str, str]]) -> None:
        for device, metric in pairs:
            self._claimed[device] = self._claimed.get(device, frozenset()) | {metric}
