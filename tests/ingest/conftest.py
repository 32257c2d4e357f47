"""Fixtures of the ingest tests; the harness they hand out is in ingest_kit."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from ingest_kit import Backend, IngestProcess, Publisher, influx_backend, sqlite_backend

from support.influx import InfluxDB
from support.mosquitto import Mosquitto


@pytest.fixture(params=["influx", "sqlite"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "influx":
        influxd: InfluxDB = request.getfixturevalue("influxd")
        return influx_backend(influxd, request.getfixturevalue("influx_db"))
    return sqlite_backend(tmp_path / "ingest" / "data")


@pytest.fixture
def start_ingest(tmp_path: Path) -> Iterator[Callable[..., IngestProcess]]:
    """Starts `sensorfleet serve` against `broker` with the backend's settings; stopped at the end."""
    started: list[IngestProcess] = []

    def start(broker: Mosquitto, backend: Backend, **env: str) -> IngestProcess:
        workdir = tmp_path / ("ingest" if not started else f"ingest-{len(started)}")
        workdir.mkdir(exist_ok=True)
        settings = {"SENSORFLEET_MQTT_URL": broker.url, "SENSORFLEET_CLIENT_ID": f"ingest-{len(started)}"}
        proc = IngestProcess(workdir, {**settings, **backend.env, **env})
        started.append(proc)
        proc.start()
        return proc

    yield start
    for proc in started:
        proc.close()


@pytest.fixture
def publisher_factory() -> Iterator[Callable[[int], Publisher]]:
    made: list[Publisher] = []

    def make(port: int) -> Publisher:
        made.append(Publisher(port, client_id=f"test-publisher-{len(made)}"))
        return made[-1]

    yield make
    for p in made:
        p.close()
