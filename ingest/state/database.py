"""The one wrapper around SQLAlchemy's engine: opens the state database a URL names and hands out
transactions.

SQLite (the default, `state.sqlite` in the data dir) is made private, runs in WAL mode so readers never
wait for a writer, syncs every commit (what was committed survives a power cut), and starts each write
transaction with `BEGIN IMMEDIATE`: several processes may write the same file, and a transaction that
reads and then writes would otherwise fail at once instead of waiting its turn. PostgreSQL is reached
with psycopg 3.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Table, create_engine, event, func, make_url
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.pool import ConnectionPoolEntry

from ingest.errors import ConfigError
from ingest.files import private_dir, private_file

STATE_FILE = "state.sqlite"
_WRITE = "sensorfleet_write"


def state_url(data_dir: Path, database_url: str | None = None) -> str:
    """`database_url` if set, else the SQLite file in the data dir."""
    return database_url or f"sqlite:///{data_dir / STATE_FILE}"


def shown(url: str) -> str:
    """The URL without its password, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<an unreadable URL>"


class StateDatabase:
    def __init__(self, url: str):
        self.url = url
        try:
            parsed = make_url(url)
        except ArgumentError as e:
            raise ConfigError(f"cannot use the database URL {shown(url)}: {e}") from None
        if parsed.get_backend_name() == "sqlite":
            self.engine = self._sqlite(parsed.database)
        elif parsed.get_backend_name() == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
            self.engine = create_engine(parsed, pool_pre_ping=True, connect_args={"connect_timeout": 10})
        else:
            raise ConfigError(f"the state database must be SQLite or PostgreSQL, not {shown(url)}")
        self.dialect = self.engine.dialect.name
        try:
            with self.engine.connect():
                pass
        except SQLAlchemyError as e:
            self.engine.dispose()
            raise ConfigError(f"cannot open the state database {shown(url)}: {_first_line(e)}") from None

    @staticmethod
    def _sqlite(database: str | None) -> Engine:
        if not database or database == ":memory:":
            raise ConfigError("the SQLite state database must be a file")
        path = Path(database)
        private_dir(path.parent)
        private_file(path)
        # No pysqlite transaction handling: `begin` below says how each transaction starts.
        engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 30, "isolation_level": None})

        @event.listens_for(engine, "connect")
        def _configure(dbapi: Any, record: ConnectionPoolEntry) -> None:
            dbapi.execute("PRAGMA journal_mode=WAL")
            dbapi.execute("PRAGMA synchronous=FULL")

        @event.listens_for(engine, "begin")
        def _begin(connection: Connection) -> None:
            write = connection.get_execution_options().get(_WRITE, False)
            connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction: committed when the block ends, rolled back if it raises."""
        with self.engine.connect().execution_options(**{_WRITE: True}) as connection, connection.begin():
            yield connection

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """One read transaction: a consistent view of the database for the block."""
        with self.engine.connect() as connection, connection.begin():
            yield connection

    def ping(self) -> bool:
        """The database answers a query now (`/readyz`): False while it is unreachable."""
        try:
            with self.read() as db:
                db.exec_driver_sql("SELECT 1")
            return True
        except SQLAlchemyError:
            return False

    def close(self) -> None:
        self.engine.dispose()


Dialect = Connection | str
"""A connection, or the name of its dialect (`sqlite`, `postgresql`)."""


def _dialect_name(dialect: Dialect) -> str:
    return dialect if isinstance(dialect, str) else dialect.dialect.name


def upsert(dialect: Dialect, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT with `on_conflict_do_nothing` and `on_conflict_do_update`, in the connection's dialect
    (both dialects spell them alike)."""
    if _dialect_name(dialect) == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def greatest(dialect: Dialect, *values: Any) -> Any:
    """The largest of `values`: `greatest` in PostgreSQL, SQLite's scalar `max`."""
    if _dialect_name(dialect) == "postgresql":
        return func.greatest(*values)
    return func.max(*values)


Built = TypeVar("Built")


def per_dialect(build: Callable[[str], Built]) -> Callable[[Connection], Built]:
    """Statements built once for each dialect and reused: SQLAlchemy then neither rebuilds a statement
    nor its cache key on each execution (a few hundred microseconds each on the writer's path)."""
    built = functools.cache(build)
    return lambda connection: built(connection.dialect.name)


def _first_line(e: BaseException) -> str:
    text = str(getattr(e, "orig", None) or e)
    return text.strip().splitlines()[0] if text.strip() else type(e).__name__
