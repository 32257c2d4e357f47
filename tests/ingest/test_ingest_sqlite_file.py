"""The embedded telemetry store's SQLite connection: private, WAL, and a write transaction that leaves
nothing behind when it raises."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from ingest.storage.sqlite import open_database, write_transaction

SCHEMA = "CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY, v INTEGER NOT NULL);"


def test_a_write_transaction_that_raises_leaves_nothing_and_the_connection_reusable(tmp_path: Path) -> None:
    db = open_database(tmp_path / "state" / "a.sqlite", SCHEMA)
    with pytest.raises(ValueError), write_transaction(db):
        db.execute("INSERT INTO t VALUES ('a', 1)")
        raise ValueError("a failure halfway")
    assert not db.in_transaction
    with write_transaction(db):
        db.execute("INSERT INTO t VALUES ('b', 2)")
    db.close()
    again = open_database(tmp_path / "state" / "a.sqlite", SCHEMA)  # the schema keeps what is there
    assert again.execute("SELECT k, v FROM t").fetchall() == [("b", 2)]
    assert again.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    again.close()
    assert stat.S_IMODE((tmp_path / "state").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "state" / "a.sqlite").stat().st_mode) == 0o600
