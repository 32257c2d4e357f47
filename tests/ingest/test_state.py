"""The state store on both its databases (a SQLite file and a real PostgreSQL 15): tokens, dead
letters, the inventory and the registry through SQLAlchemy, Alembic migrations, a data dir of the
release before the state store taken in once, a newer schema refused, and a database that cannot be
reached named clearly."""

from __future__ import annotations

import shutil
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import SQLAlchemyError
from typer.testing import CliRunner

from ingest.api.tokens import Scope, TokenStore
from ingest.cli import app as cli
from ingest.deadletters import DeadLetter, DeadLetters
from ingest.errors import ConfigError, is_outage
from ingest.provision.ids import INGEST_USERNAME
from ingest.provision.inventory import Inventory
from ingest.registry import Registry
from ingest.state.database import STATE_FILE, StateDatabase
from ingest.state.migrate import HEAD, current, head, open_state, upgrade
from ingest.state.schema import api_tokens
from support.postgres import PostgreSQL

RELEASE_0_1 = Path(__file__).resolve().parent.parent / "fixtures" / "datadir-0.1.0"
"""A data dir written by sensorfleet 0.1.0, before the state store (separate SQLite files)."""


@pytest.fixture
def state(state_url: str, tmp_path: Path) -> Iterator[StateDatabase]:
    db = open_state(tmp_path / "data", state_url)
    yield db
    db.close()


def test_a_write_that_raises_leaves_nothing_behind(state: StateDatabase) -> None:
    row = {"id": "t1", "name": "", "scope": "read", "secret_sha256": "x", "created_at": 1.0}
    with pytest.raises(ValueError), state.write() as connection:
        connection.execute(insert(api_tokens).values(**row))
        raise ValueError("a failure halfway")
    with state.read() as connection:
        assert connection.execute(select(func.count()).select_from(api_tokens)).scalar_one() == 0


def test_the_sqlite_state_file_is_private(tmp_path: Path) -> None:
    open_state(tmp_path / "data").close()
    assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "data" / STATE_FILE).stat().st_mode) == 0o600


def test_tokens_are_created_verified_listed_and_revoked(state: StateDatabase) -> None:
    tokens = TokenStore(state)
    secret, token = tokens.create(Scope.COMMAND, "ci")
    found = tokens.verify(secret)
    assert found is not None and found.id == token.id and found.scope is Scope.COMMAND
    assert tokens.verify(secret + "x") is None and tokens.verify("not a token") is None
    assert [t.id for t in tokens.list()] == [token.id]
    assert tokens.revoke(token.id) and not tokens.revoke(token.id)
    assert tokens.verify(secret) is None
    assert not tokens.list()[0].active


def test_dead_letters_keep_the_newest(state: StateDatabase) -> None:
    letters = DeadLetters(state, kept=5)
    letters.add([DeadLetter(i, f"sf/d/{i}", f"r{i}", bytes([i]) * 3) for i in range(4)])
    letters.add([DeadLetter(i, f"sf/d/{i}", f"r{i}", b"\x00\xff") for i in range(4, 8)])
    assert letters.count() == 5
    newest = letters.recent(2)
    assert [(d.received_ms, d.reason, d.payload, d.payload_bytes) for d in newest] == [
        (7, "r7", b"\x00\xff", 2),
        (6, "r6", b"\x00\xff", 2),
    ]


def test_a_new_database_is_at_the_head_revision_and_upgrading_again_changes_nothing(
    state: StateDatabase, tmp_path: Path
) -> None:
    assert current(state) == head()
    TokenStore(state).create(Scope.READ)
    assert upgrade(state, tmp_path / "data") == head()
    assert len(TokenStore(state).list()) == 1


def test_head_is_the_newest_migration() -> None:
    assert head() == HEAD


def test_a_database_at_head_opens_without_loading_alembic(
    state: StateDatabase, state_url: str, tmp_path: Path
) -> None:
    """Alembic is loaded only to migrate: a serving process that finds its database current is
    spared its memory. A database that is not current is migrated, as every other test here shows."""
    opened = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; from ingest.state.migrate import open_state; "
            f"open_state(Path(sys.argv[1]), {state_url!r}).close(); print(sorted(sys.modules))",
            str(tmp_path / "data"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    modules = opened.stdout.split("'")
    assert "sqlalchemy" in modules and "ingest.state.migrate" in modules
    assert "alembic" not in modules


def test_a_data_dir_of_the_release_before_is_taken_in_once(state_url: str, tmp_path: Path) -> None:
    data = tmp_path / "old"
    shutil.copytree(RELEASE_0_1, data)
    read, admin, revoked = (data / "secrets.txt").read_text().split()
    with closing(sqlite3.connect(data / "devices.sqlite3")) as old:
        old_ingest_password = old.execute("SELECT password FROM broker_logins").fetchone()[0]
    db = open_state(data, state_url)
    try:
        tokens = TokenStore(db)
        assert {t.name for t in tokens.list()} == {"dashboard", "ops", "old laptop"}
        assert tokens.verify(read).scope is Scope.READ  # type: ignore[union-attr]
        assert tokens.verify(admin).scope is Scope.ADMIN  # type: ignore[union-attr]
        assert tokens.verify(revoked) is None
        letters = DeadLetters(db).recent()
        assert [(d.topic, d.payload) for d in letters] == [
            (f"sf/dev-{i}/telemetry", b'{"bad": %d}' % i) for i in (2, 1, 0)
        ]
        # The old files are set aside, kept for the operator, and never read again.
        assert not (data / "tokens.sqlite3").exists() and (data / "tokens.sqlite3.imported").exists()
        assert (data / "deadletters.sqlite.imported").exists()
        registry = Registry(db)
        dev1, dev2 = registry.devices()
        assert (dev1.id, dev1.received, dev1.duplicates, dev1.missing) == ("dev-1", 15, 0, 5)
        assert [(b.boot, b.received, b.missing) for b in dev1.boots] == [(1, 15, [(10, 14)])]
        assert (dev1.online, dev1.fw, dev1.tags) == (
            False,
            "1.0.0",
            {"site": "greenhouse-2", "zone": "north"},
        )
        assert [c.changed for c in registry.status_changes("dev-1")] == [
            ("online",),
            ("online", "boot", "fw"),
        ]
        assert registry.command_result("dev-1", "c-1") == {"id": "c-1", "ok": True, "result": {"pong": True}}
        assert (dev2.id, dev2.received, dev2.metrics) == ("dev-2", 1, ("humidity",))
        inventory = Inventory(db)
        assert [d.id for d in inventory.all()] == ["dev-1"]
        assert inventory.get("dev-1").config["mqtt"]["user"] == "dev-1"
        assert inventory.login(INGEST_USERNAME).password == old_ingest_password
        shutil.copy(RELEASE_0_1 / "tokens.sqlite3", data / "tokens.sqlite3")
        upgrade(db, data)
        assert len(tokens.list()) == 3
    finally:
        db.close()


def test_a_database_a_newer_release_upgraded_is_refused(state: StateDatabase, tmp_path: Path) -> None:
    with state.write() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(ConfigError, match="revision 9999, which this sensorfleet does not know"):
        upgrade(state, tmp_path / "data")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql://postgres:s3cret@127.0.0.1:1/nowhere", "cannot open the state database"),
        ("mysql://root@127.0.0.1/x", "must be SQLite or PostgreSQL"),
        ("not a url", "cannot use the database URL"),
        ("sqlite://", "must be a file"),
    ],
)
def test_a_database_that_cannot_be_used_is_a_clear_error(url: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=message) as error:
        open_state(tmp_path, url)
    assert "s3cret" not in str(error.value)


def test_the_db_commands_upgrade_and_tell_the_revision(state_url: str, tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["--data-dir", str(tmp_path / "data"), "--database-url", state_url]
    before = runner.invoke(cli, ["db", "current", *args])
    assert before.exit_code == 0 and "none (this release needs" in before.stdout
    upgraded = runner.invoke(cli, ["db", "upgrade", *args])
    assert upgraded.exit_code == 0 and f"is at revision {head()}" in upgraded.stdout
    after = runner.invoke(cli, ["db", "current", *args])
    assert after.stdout.strip() == f"{head()} (this release's)"
    bad = runner.invoke(cli, ["db", "upgrade", "--database-url", "postgresql://127.0.0.1:1/x"])
    assert bad.exit_code == 1 and bad.stderr.startswith("error: cannot open the state database")


def test_postgresql_going_away_is_an_outage_not_the_message_s_fault(tmp_path: Path) -> None:
    server = PostgreSQL()
    server.start()
    try:
        db = open_state(tmp_path, server.create_database("outage"))
        letters = DeadLetters(db)
        letters.add([DeadLetter(1, "sf/d/telemetry", "r", b"x")])
        server.stop()
        with pytest.raises(SQLAlchemyError) as error:
            letters.add([DeadLetter(2, "sf/d/telemetry", "r", b"y")])
        assert is_outage(error.value)
        server.start()
        letters.add([DeadLetter(3, "sf/d/telemetry", "r", b"z")])
        assert [d.received_ms for d in letters.recent()] == [3, 1]
        db.close()
    finally:
        server.close()
