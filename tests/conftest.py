"""Fixtures that start real services (Mosquitto, with a TLS listener whose certificate an openssl CA made
in the test signed; InfluxDB 1.x, PostgreSQL, MicroPython) for the tests."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from support.boards import TlsBroker, make_ca, make_server_cert
from support.influx import InfluxDB
from support.micropython import micropython_binary
from support.mosquitto import Mosquitto, MosquittoOptions
from support.postgres import PostgreSQL
from support.procs import free_port


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


@pytest.fixture
def tls_broker_factory(
    tmp_path: Path, mosquitto_factory: Callable[..., Mosquitto]
) -> Callable[..., TlsBroker]:
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make certificates")
    certs = tmp_path / "certs"
    certs.mkdir()
    ca = make_ca(certs, "ca")
    other = make_ca(certs, "other")
    make_server_cert(certs, "ca")

    def start(users: dict[str, str] | None = None) -> TlsBroker:
        port = free_port()
        broker = mosquitto_factory(
            MosquittoOptions(
                users=users or {},
                extra=f"listener {port} 127.0.0.1\ncafile {ca}\n"
                f"certfile {certs}/server.pem\nkeyfile {certs}/server.key\n",
            )
        )
        return TlsBroker(broker, port, ca, other)

    return start


@pytest.fixture(scope="session")
def influxd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxDB]:
    """One InfluxDB server for the session; tests isolate themselves by database (see `influx_db`)."""
    server = InfluxDB(tmp_path_factory.mktemp("influxdb"))
    server.start()
    yield server
    server.process.kill()  # its data goes with the session: no clean shutdown to wait for
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
