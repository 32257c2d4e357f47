"""Fixtures that start real services (Mosquitto, InfluxDB 1.x, PostgreSQL, MicroPython) for the tests."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from support.influx import InfluxDB
from support.micropython import micropython_binary
from support.mosquitto import Mosquitto, MosquittoOptions
from support.postgres import PostgreSQL


@pytest.fixture
def mosquitto_factory(tmp_path: Path) -> Iterator[Callable[..., Mosquitto]]:
    """Starts brokers with the given options; all are stopped at the end of the test."""
    started: list[Mosquitto] = []

    def start(options: MosquittoOptions | None = None) -> Mosquitto:
        broker = Mosquitto(tmp_path / f"mosquitto-{len(started)}", options)
        started.append(broker)
        broker.start()
        return broker

    yield start
    for broker in started:
        broker.stop()


@pytest.fixture
def mosquitto(mosquitto_factory: Callable[..., Mosquitto]) -> Mosquitto:
    """An anonymous broker without persistence."""
    return mosquitto_factory()


@pytest.fixture(scope="session")
def influxd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxDB]:
    """One InfluxDB server for the session; tests isolate themselves by database (see `influx_db`)."""
    server = InfluxDB(tmp_path_factory.mktemp("influxdb"))
    server.start()
    yield server
    server.close()


@pytest.fixture
def influx_db(influxd: InfluxDB) -> Iterator[str]:
    """A fresh, empty database on the session's InfluxDB, dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    influxd.create_database(name)
    yield name
    if influxd.process.running():
        influxd.query(f'DROP DATABASE "{name}"', method="POST")


@pytest.fixture(scope="session")
def micropython() -> str:
    """Path of the real MicroPython unix binary."""
    return micropython_binary()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgreSQL]:
    """One PostgreSQL server for the session; tests isolate themselves by database (see `state_url`)."""
    server = PostgreSQL()
    server.start()
    yield server
    server.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test that takes it runs once on the data dir's SQLite file and once on a fresh PostgreSQL
    database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state' / 'state.sqlite'}"
    server: PostgreSQL = request.getfixturevalue("postgres")
    return server.create_database(f"t_{uuid.uuid4().hex[:12]}")
