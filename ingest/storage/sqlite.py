"""The embedded store: points in SQLite (WAL), one row per (device, metric, ts), same semantics as InfluxDB.

Like InfluxDB, a field keeps the type it was first written with; a point that conflicts is refused
(PermanentStoreError) while the rest of the batch is stored.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from ingest.errors import PermanentStoreError
from ingest.files import private_dir, private_file
from ingest.points import FieldValue, Point
from ingest.storage.base import (
    Agg,
    LatestValues,
    SeriesPoint,
    check_device,
    check_range,
    check_series,
    check_wanted,
)


def open_database(
    path: Path, schema: str, synchronous: Literal["FULL", "NORMAL"] = "FULL"
) -> sqlite3.Connection:
    """A connection shared by threads under the caller's lock, its tables created from `schema` (DDL that
    keeps existing tables); WAL so readers never wait for the writer.

    FULL syncs every commit: what was committed survives a power cut, as acknowledged data must."""
    private_dir(path.parent)
    private_file(path)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={synchronous}")
    db.executescript(schema)
    return db


@contextmanager
def write_transaction(db: sqlite3.Connection) -> Iterator[None]:
    """One write transaction on a connection from `open_database` (the caller holds its lock):
    committed when the block ends, rolled back if it raises, so the connection is never left inside
    an open transaction."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


_SCHEMA = """
CREATE TABLE IF NOT EXISTS points (
    device TEXT NOT NULL, metric TEXT NOT NULL, ts INTEGER NOT NULL, value NOT NULL,
    PRIMARY KEY (device, metric, ts)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS points_by_time ON points (device, ts);
CREATE TABLE IF NOT EXISTS field_kinds (metric TEXT PRIMARY KEY, kind TEXT NOT NULL);
"""
_SQL_AGG = {Agg.MEAN: "AVG", Agg.MIN: "MIN", Agg.MAX: "MAX", Agg.SUM: "TOTAL", Agg.COUNT: "COUNT"}
_BUCKET = "(ts / ?) * ? AS bucket"
_BY_BUCKET = "GROUP BY bucket ORDER BY bucket"
PAGE = 5000


def _kind(value: FieldValue) -> str:
    return "bool" if isinstance(value, bool) else "int" if isinstance(value, int) else "float"


class SqliteStore:
    def __init__(self, path: Path):
        self._db = open_database(path, _SCHEMA)
        self._lock = threading.Lock()
        self._kinds: dict[str, str] = dict(
            self._db.execute("SELECT metric, kind FROM field_kinds").fetchall()
        )

    def write(self, points: Sequence[Point]) -> None:
        rows: list[tuple[str, str, int, FieldValue]] = []
        new_kinds: dict[str, str] = {}
        refused = 0
        for p in points:
            kinds = {k: _kind(v) for k, v in p.fields.items()}
            if any(self._kinds.get(k, new_kinds.get(k, kind)) != kind for k, kind in kinds.items()):
                refused += 1
                continue
            for k, kind in kinds.items():
                if k not in self._kinds:
                    new_kinds[k] = kind
            rows.extend((p.device, k, p.ts_ms, v) for k, v in p.fields.items())
        with self._lock:
            with write_transaction(self._db):
                self._db.executemany("INSERT OR IGNORE INTO field_kinds VALUES (?, ?)", new_kinds.items())
                self._db.executemany("INSERT OR REPLACE INTO points VALUES (?, ?, ?, ?)", rows)
            self._kinds.update(new_kinds)
        if refused:
            raise PermanentStoreError(f"field type conflict: {refused} point(s) refused")

    def ping(self) -> bool:
        return True

    def series(
        self,
        device: str,
        metric: str,
        start_ms: int,
        end_ms: int,
        agg: Agg | None = None,
        every_ms: int | None = None,
    ) -> list[SeriesPoint]:
        check_series(device, metric, start_ms, end_ms, agg, every_ms)
        where = "WHERE device = ? AND metric = ? AND ts >= ? AND ts < ?"
        args: tuple[object, ...] = (device, metric, start_ms, end_ms)
        if agg is None:
            sql = f"SELECT ts, value FROM points {where} ORDER BY ts"
        elif agg is Agg.LAST:
            # SQLite takes the bare column `value` from the row that holds MAX(ts).
            sql = f"SELECT {_BUCKET}, value, MAX(ts) FROM points {where} {_BY_BUCKET}"
            args = (every_ms, every_ms, *args)
        else:
            sql = f"SELECT {_BUCKET}, {_SQL_AGG[agg]}(value) FROM points {where} {_BY_BUCKET}"
            args = (every_ms, every_ms, *args)
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        kind = "int" if agg is Agg.COUNT else "float" if agg is Agg.MEAN else self._kinds.get(metric, "float")
        return [(int(row[0]), _typed(row[1], kind)) for row in rows]

    def latest_values(self, wanted: Mapping[str, Collection[str]]) -> LatestValues:
        check_wanted(wanted)
        out: LatestValues = {}
        with self._lock:
            for device, metrics in wanted.items():
                for metric in metrics:  # one primary-key seek each
                    row = self._db.execute(
                        "SELECT ts, value FROM points WHERE device = ? AND metric = ? "
                        "ORDER BY ts DESC LIMIT 1",
                        (device, metric),
                    ).fetchone()
                    if row is not None:
                        kind = self._kinds.get(metric, "float")
                        out.setdefault(device, {})[metric] = (int(row[0]), _typed(row[1], kind))
        return out

    def metric_names(self) -> dict[str, set[str]]:
        names: dict[str, set[str]] = {}
        with self._lock:
            for device, metric in self._db.execute("SELECT DISTINCT device, metric FROM points"):
                names.setdefault(device, set()).add(metric)
        return names

    def points(self, device: str, start_ms: int, end_ms: int) -> Iterator[Point]:
        check_device(device)
        check_range(start_ms, end_ms)
        while start_ms < end_ms:
            with self._lock:
                rows = self._db.execute(
                    "SELECT ts, metric, value FROM points WHERE device = ? AND ts >= ? AND ts < "
                    "(SELECT COALESCE(MAX(ts) + 1, ?) FROM (SELECT DISTINCT ts FROM points "
                    "WHERE device = ? AND ts >= ? AND ts < ? ORDER BY ts LIMIT ?)) ORDER BY ts, metric",
                    (device, start_ms, start_ms, device, start_ms, end_ms, PAGE),
                ).fetchall()
            if not rows:
                return
            current: dict[str, FieldValue] = {}
            current_ts = rows[0][0]
            for ts, metric, value in rows:
                if ts != current_ts:
                    yield Point(device, current_ts, current)
                    current, current_ts = {}, ts
                current[metric] = _typed(value, self._kinds.get(metric, "float"))
            yield Point(device, current_ts, current)
            start_ms = current_ts + 1

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _typed(value: float, kind: str) -> FieldValue:
    if kind == "bool":
        return bool(value)
    if kind == "int":
        return int(value)
    return float(value)
