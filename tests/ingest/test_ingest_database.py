"""The state databases' connection and transaction helpers, under every SQLite store of the data dir."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from ingest.database import create_tables, data_version, open_database, transaction, write_transaction

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


def test_a_transaction_per_call_commits_on_success_and_rolls_back_on_error(tmp_path: Path) -> None:
    path = tmp_path / "b.sqlite3"
    create_tables(path, SCHEMA)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with transaction(path) as db:
        db.execute("INSERT INTO t VALUES ('a', 1)")
    with pytest.raises(ValueError), transaction(path) as db:
        db.execute("INSERT INTO t VALUES ('b', 2)")
        raise ValueError("a failure halfway")
    with transaction(path) as db:
        assert db.execute("SELECT k, v FROM t").fetchall() == [("a", 1)]


def test_the_data_version_moves_for_another_connections_commits_only(tmp_path: Path) -> None:
    db = open_database(tmp_path / "c.sqlite", SCHEMA)
    before = data_version(db)
    with write_transaction(db):
        db.execute("INSERT INTO t VALUES ('a', 1)")
    assert data_version(db) == before
    other = open_database(tmp_path / "c.sqlite", SCHEMA)
    with write_transaction(other):
        other.execute("UPDATE t SET v = 2")
    assert data_version(db) != before
