"""Fixtures that start real services (Mosquitto, InfluxDB 1.x, MicroPython) for the tests."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from support.influx import InfluxDB
from support.micropython import micropython_binary
from support.mosquitto import Mosquitto, MosquittoOptions


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
