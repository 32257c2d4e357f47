"""Brings a state database to the schema this code uses, with Alembic (`migrations/`), and takes in
the separate SQLite files a data dir held before the state store.

`upgrade` runs at the start of `sensorfleet serve` and as `sensorfleet db upgrade`; it is safe to
run from several processes at once (SQLite serialises the write transaction, PostgreSQL takes an
advisory lock). A database a newer sensorfleet has upgraded is refused: there are no downgrades.
A database already at `HEAD` opens without loading Alembic, about a tenth of a serving process's
memory.

Old files (`tokens.sqlite3`, `deadletters.sqlite`, `registry.sqlite`, `devices.sqlite3`) are read
once, in the transaction that records them in `imported_files`, then renamed with the suffix
`.imported`, kept for the operator to remove.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Table, insert, inspect, select, text

from ingest.contract import device_in_topic
from ingest.errors import ConfigError
from ingest.state.database import StateDatabase, state_url
from ingest.state.schema import (
    api_tokens,
    broker_logins,
    command_results,
    dead_letters,
    device_metrics,
    device_tags,
    devices,
    imported_files,
    provisioned_devices,
    seq_ranges,
    status_changes,
    upgrades,
)

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

log = logging.getLogger(__name__)
# Alembic tells each step at INFO, on every command's terminal too: `upgrade` says what matters itself.
logging.getLogger("alembic").setLevel(logging.WARNING)

HEAD = "0006"
"""The newest migration's revision, which Alembic's `head()` reads from `migrations/` (a test holds
the two equal)."""

MIGRATIONS = Path(__file__).parent / "migrations"
_LOCK_ID = 0x5E50F1EE7
"""The PostgreSQL advisory lock migrations hold, so that two processes never migrate at once."""


@dataclass(frozen=True)
class Copy:
    """Rows of an old file's table into the state database's."""

    query: str
    """Its rows, oldest first, in the order of `columns`."""
    table: Table
    columns: Sequence[str]
    complete: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    """Adds the columns the old file did not have, computed from a row's others."""


def _with_device(letter: dict[str, Any]) -> dict[str, Any]:
    return {**letter, "device": device_in_topic(letter["topic"])}


_DEVICE_COLUMNS = tuple(
    [
        "id",
        "first_seen_ms",
        "last_seen_ms",
        "online",
        "status_ms",
        "fw",
        "rssi",
        "boot",
        "status",
        "received",
        "duplicates",
    ]
)

LEGACY_FILES = {
    "tokens.sqlite3": (
        Copy(
            "SELECT id, name, scope, secret_sha256, created_at, revoked_at FROM api_tokens "
            "ORDER BY created_at",
            api_tokens,
            ("id", "name", "scope", "secret_sha256", "created_at", "revoked_at"),
        ),
    ),
    "deadletters.sqlite": (
        Copy(
            "SELECT received_ms, topic, reason, payload, payload_bytes FROM dead_letters ORDER BY id",
            dead_letters,
            ("received_ms", "topic", "reason", "payload", "payload_bytes"),
            _with_device,
        ),
    ),
    "registry.sqlite": (
        Copy(
            "SELECT id, first_seen_ms, last_seen_ms, online, status_ms, fw, rssi, boot, status, received, "
            "duplicates FROM devices ORDER BY id",
            devices,
            _DEVICE_COLUMNS,
        ),
        Copy(
            "SELECT device, boot, lo, hi FROM seq_ranges ORDER BY device, boot, lo",
            seq_ranges,
            ("device", "boot", "lo", "hi"),
        ),
        Copy(
            "SELECT device, key, value FROM device_tags ORDER BY device, key",
            device_tags,
            ("device", "key", "value"),
        ),
        Copy(
            "SELECT device, at_ms, online, fw, boot, changed, retained FROM status_changes ORDER BY id",
            status_changes,
            ("device", "at_ms", "online", "fw", "boot", "changed", "retained"),
        ),
        Copy(
            "SELECT device, id, received_ms, body FROM command_results ORDER BY rowid",
            command_results,
            ("device", "command_id", "received_ms", "body"),
        ),
        Copy(
            "SELECT device, metric FROM device_metrics ORDER BY device, metric",
            device_metrics,
            ("device", "metric"),
        ),
        Copy("SELECT name, done_ms FROM upgrades ORDER BY name", upgrades, ("name", "done_ms")),
    ),
    "devices.sqlite3": (
        Copy(
            "SELECT id, config, password_hash, created_at FROM provisioned_devices ORDER BY id",
            provisioned_devices,
            ("id", "config", "password_hash", "created_at"),
        ),
        Copy(
            "SELECT username, password, password_hash FROM broker_logins ORDER BY username",
            broker_logins,
            ("username", "password", "password_hash"),
        ),
    ),
}
"""A data dir's files from before the state store: what each holds that the state database takes in."""


def _alembic(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head(scripts: ScriptDirectory | None = None) -> str:
    """The newest revision in `migrations/`, as Alembic reads it."""
    from alembic.script import ScriptDirectory

    found = (scripts or ScriptDirectory.from_config(_alembic())).get_current_head()
    assert found is not None, "the migrations have a head"
    return found


def current(db: StateDatabase) -> str | None:
    """The revision the database is at (None: never migrated)."""
    with db.read() as connection:
        return _revision(connection)


def _revision(connection: Connection) -> str | None:
    """Alembic's own record (one row: the migrations are a single line)."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    found = connection.scalar(text("SELECT version_num FROM alembic_version"))
    return None if found is None else str(found)


def upgrade(db: StateDatabase, data_dir: Path | None = None) -> str:
    """Migrates the database to `HEAD` and takes in `data_dir`'s old files; returns the revision."""
    renamed: list[Path] = []
    with db.write() as connection:
        if db.dialect == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _LOCK_ID})
        now = _revision(connection)
        if now != HEAD:
            _migrate(connection, now)
        if data_dir is not None:
            renamed = _take_in(connection, data_dir)
    for path in renamed:
        _set_aside(path)
    return HEAD


def _migrate(connection: Connection, now: str | None) -> None:
    from alembic import command
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(_alembic())
    if now is not None and now not in {script.revision for script in scripts.walk_revisions()}:
        raise ConfigError(
            f"the state database is at revision {now}, which this sensorfleet does not know (its newest "
            f"is {HEAD}): it was upgraded by a newer release; downgrades are not supported"
        )
    command.upgrade(_alembic(connection), "head")
    log.info("state database upgraded from revision %s to %s", now or "none", HEAD)


def _take_in(connection: Connection, data_dir: Path) -> list[Path]:
    """Copies the rows of each old file not yet recorded as imported; returns the files read."""
    done = set(connection.scalars(select(imported_files.c.name)))
    read = []
    for name, copies in LEGACY_FILES.items():
        path = data_dir / name
        if name in done or not path.is_file():
            continue
        for copy in copies:
            rows = _rows(path, copy.query)
            if rows:
                records = [dict(zip(copy.columns, r, strict=True)) for r in rows]
                if copy.complete is not None:
                    records = [copy.complete(r) for r in records]
                connection.execute(insert(copy.table), records)
            log.info("took in %d rows of %s from %s", len(rows), copy.table.name, path)
        connection.execute(insert(imported_files), {"name": name, "imported_ms": int(time.time() * 1000)})
        read.append(path)
    return read


def _rows(path: Path, query: str) -> list[tuple[Any, ...]]:
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)) as old:
            return old.execute(query).fetchall()
    except sqlite3.Error as e:
        raise ConfigError(f"cannot read {path} to take it into the state database: {e}") from e


def _set_aside(path: Path) -> None:
    for part in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if part.exists():
            part.rename(part.with_name(part.name + ".imported"))


def open_state(data_dir: Path, database_url: str | None = None) -> StateDatabase:
    """The state database the settings name (`database_url`, else the data dir's SQLite file),
    upgraded, with the data dir's old files taken in."""
    db = StateDatabase(state_url(data_dir, database_url))
    try:
        upgrade(db, data_dir)
    except BaseException:
        db.close()
        raise
    return db
