"""The API over real stores: SQLite under a temp dir and a fresh database on the session's InfluxDB 1.x."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from api.helpers import NOW_MS, bearer
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ingest.api.config import ApiSettings
from ingest.api.tokens import Scope, TokenStore
from ingest.app import build_app
from ingest.registry import Registry
from ingest.service import IngestService
from ingest.settings import load_settings
from ingest.state.migrate import open_state
from ingest.storage.base import Store
from ingest.storage.influx import InfluxStore
from ingest.storage.influx_http import InfluxHttp
from ingest.storage.sqlite import SqliteStore
from support.influx import InfluxDB
from support.mosquitto import Mosquitto
from support.serve import ServeProcess


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(tmp_path / "telemetry.sqlite")
    yield store
    store.close()


@pytest.fixture
def influx_store(influxd: InfluxDB, influx_db: str) -> Iterator[InfluxStore]:
    store = InfluxStore(InfluxHttp(influxd.url, influx_db))
    yield store
    store.close()


@pytest.fixture(params=["sqlite", "influx"])
def store(request: pytest.FixtureRequest) -> Store:
    """Each test that takes `store` runs once per store."""
    fixture = "sqlite_store" if request.param == "sqlite" else "influx_store"
    found: Store = request.getfixturevalue(fixture)
    return found


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def tokens(data_dir: Path) -> Iterator[TokenStore]:
    found = TokenStore(open_state(data_dir))
    yield found
    found.state.close()


@pytest.fixture
def secrets(tokens: TokenStore) -> dict[Scope, str]:
    """A secret per scope."""
    return {scope: tokens.create(scope, f"test {scope}")[0] for scope in Scope}


@pytest.fixture
def registry(data_dir: Path) -> Iterator[Registry]:
    found = Registry(open_state(data_dir))
    yield found
    found.state.close()


@pytest.fixture
def make_api(
    data_dir: Path, registry: Registry, secrets: dict[Scope, str]
) -> Iterator[Callable[..., TestClient]]:
    """A test client of the service's app over `store` and `registry` (the service not started: no
    broker connection), authorised as admin unless told otherwise. Closed at the end of the test: a
    suite of them would otherwise run out of the file descriptors `select` can watch (1024)."""
    made: list[tuple[IngestService, TestClient]] = []

    def make(
        store: Store, scope: Scope | None = Scope.ADMIN, settings: ApiSettings | None = None
    ) -> TestClient:
        service = IngestService(load_settings(data_dir=data_dir), store=store, registry=registry)
        app: FastAPI = build_app(
            service,
            settings or ApiSettings(rate_per_s=1000, rate_burst=1000),
            clock=lambda: NOW_MS / 1000,
        )
        client = TestClient(app, raise_server_exceptions=False)
        if scope is not None:
            client.headers.update(bearer(secrets[scope]))
        made.append((service, client))
        return client

    yield make
    for service, client in made:
        client.close()
        service.state.close()


@pytest.fixture
def serve(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[ServeProcess]:
    """A real `sensorfleet serve` on `mosquitto`, storing in SQLite under its data dir."""
    found = ServeProcess(
        tmp_path, {"SENSORFLEET_MQTT_URL": mosquitto.url, "SENSORFLEET_CLIENT_ID": "api-serve-test"}
    )
    found.start()
    yield found
    found.close()
