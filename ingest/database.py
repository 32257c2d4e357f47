"""The connections and transactions of the state databases: every SQLite file the service keeps under the
data dir (device registry, dead letters, API tokens, provisioned devices, and the embedded telemetry store
too) is made private, given its tables, opened and written through these, so that how state is kept
changes in this one module, not in each store.

Two ways to hold a database:
- `open_database`: one connection kept for the life of the process, shared by its threads under the
  owner's lock and written in `write_transaction`s (registry, dead letters, telemetry store);
- `create_tables` once, then a `transaction` per call: for the small stores another process writes too
  (tokens, provisioned devices), so that what a command committed is seen at the next call.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Literal

from ingest.files import private_dir, private_file


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


def data_version(db: sqlite3.Connection) -> int:
    """Moves when another connection, in this process or another, commits to the database, and only
    then: a process that keeps a copy of what others write re-reads it when this moves, never for its
    own writes."""
    return int(db.execute("PRAGMA data_version").fetchone()[0])


def create_tables(path: Path, schema: str) -> None:
    """Makes the file private and creates its tables from `schema`: once, before `transaction`s."""
    private_dir(path.parent)
    private_file(path)
    with transaction(path) as db:
        db.executescript(schema)


@contextmanager
def transaction(path: Path) -> Iterator[sqlite3.Connection]:
    """A connection for one transaction (committed on success, rolled back on error), then closed."""
    with closing(sqlite3.connect(path, timeout=10)) as db, db:
        yield db
