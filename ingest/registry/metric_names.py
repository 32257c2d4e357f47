"""Metric names: table `device_metrics`, the names each device has used (at most `max_metrics`), so its
newest values cost one bounded store request; and table `upgrades`, the mark that a registry kept before
those names were has learned them from the store, once."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import Connection, Executable, select

from ingest.codec.payload import Telemetry
from ingest.contract import MAX_METRICS_PER_DEVICE
from ingest.state.database import per_dialect, upsert
from ingest.state.schema import device_metrics, upgrades


class MetricNames:
    """Names are claimed in memory at once (the router asks from the network thread) and stored with the
    counts of the telemetry that used them. The caller holds the registry's lock for `claim` and the
    writes, opens the transactions the writes run in and calls `keep` once they are committed."""

    def __init__(self, db: Connection, max_metrics: int = MAX_METRICS_PER_DEVICE):
        self.max_metrics = max_metrics
        c = device_metrics.c
        self._stored: set[tuple[str, str]] = {(d, m) for d, m in db.execute(select(c.device, c.metric))}
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
        return {(t.device, k) for t, _ in messages for k in t.names()} - self._stored

    def capped(self, names: Mapping[str, Iterable[str]]) -> set[tuple[str, str]]:
        """At most `max_metrics` of each device's names, the first in sorted order."""
        return {(d, m) for d, metrics in names.items() for m in sorted(metrics)[: self.max_metrics]}

    @staticmethod
    def in_use(db: Connection, metric: str) -> bool:
        """Some device, in any process, has sent `metric`."""
        found = db.execute(select(device_metrics.c.device).where(device_metrics.c.metric == metric).limit(1))
        return found.first() is not None

    @staticmethod
    def write(db: Connection, pairs: set[tuple[str, str]]) -> None:
        if pairs:
            rows = [{"device": d, "metric": m} for d, m in sorted(pairs)]
            db.execute(_add_names(db), rows)

    def keep(self, pairs: set[tuple[str, str]]) -> None:
        """After `write` committed."""
        self._stored |= pairs
        self._claim_stored(pairs)

    @staticmethod
    def upgraded(db: Connection) -> bool:
        """True once the registry holds its devices' names: learned from the store, or none to learn."""
        return db.scalar(select(upgrades.c.name).where(upgrades.c.name == _UPGRADE)) is not None

    @staticmethod
    def mark_upgraded(db: Connection, done_ms: int) -> None:
        mark = upsert(db, upgrades).values(name=_UPGRADE, done_ms=done_ms)
        db.execute(mark.on_conflict_do_update(index_elements=[upgrades.c.name], set_={"done_ms": done_ms}))

    def _claim_stored(self, pairs: Iterable[tuple[str, str]]) -> None:
        for device, metric in pairs:
            self._claimed[device] = self._claimed.get(device, frozenset()) | {metric}


_UPGRADE = "metric_names"


@per_dialect
def _add_names(dialect: str) -> Executable:
    return upsert(dialect, device_metrics).on_conflict_do_nothing()
