"""Server-Sent Events over real HTTP: a reading published over MQTT reaches a connected client within a
second, through the service's real intake, router and event bus; the device filter holds."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import orjson
import pytest
import uvicorn
from api.sse import SseReader
from fastapi.testclient import TestClient

from ingest.api.config import ApiSettings
from ingest.api.tokens import Scope, TokenStore
from ingest.app import build_app
from ingest.service import IngestService
from ingest.settings import load_settings
from ingest.storage.sqlite import SqliteStore
from support.mosquitto import Mosquitto
from support.mqtt import Recorder
from support.procs import free_port, wait_until


@pytest.fixture
def stream_url(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[tuple[str, str]]:
    """(base URL, read token) of the app of a service whose intake is on `mosquitto`."""
    service = IngestService(
        load_settings(data_dir=tmp_path / "data", mqtt_url=mosquitto.url, client_id="sse-test-ingest")
    )
    app = build_app(service)
    service.start()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started and service.broker_connected(), 20, "uvicorn and the intake")
    yield f"http://127.0.0.1:{port}", TokenStore(service.state).create(Scope.READ)[0]
    server.should_exit = True
    thread.join(20)
    service.stop()


def test_a_reading_published_over_mqtt_reaches_a_stream_client_within_a_second(
    stream_url: tuple[str, str], mosquitto: Mosquitto
) -> None:
    base, token = stream_url
    stream = SseReader(f"{base}/api/v1/stream", token, {"device": "dev-1"})
    board = Recorder(mosquitto.port, client_id="dev-1")
    try:
        # The intake's subscription may still be on its way to the broker: publish until it delivers.
        deadline = time.monotonic() + 20
        while not stream.snapshot() and time.monotonic() < deadline:
            board.publish("sf/dev-1/telemetry", b'{"warmup":1}')
            time.sleep(0.2)
        board.publish("sf/dev-2/telemetry", b'{"t":99.0}')
        sent = time.monotonic()
        board.publish("sf/dev-1/telemetry", orjson.dumps({"ts": int(time.time() * 1000), "t": 21.5}))
        got = stream.wait_for(lambda e: e.kind == "reading" and "t" in e.data["values"], 5, "the reading")
        assert got.at - sent < 1.0
        assert got.data["device"] == "dev-1" and got.data["values"] == {"t": 21.5}

        board.publish("sf/dev-1/status", b'{"online":true,"fw":"1.2.3","rssi":-50}', retain=True)
        status = stream.wait_for(lambda e: e.kind == "status", 5, "the status event")
        assert status.data["online"] is True and status.data["fw"] == "1.2.3"
        # The change the registry recorded comes with the event, as its history keeps it.
        history = httpx.get(
            f"{base}/api/v1/devices/dev-1/status-history", headers={"Authorization": f"Bearer {token}"}
        ).json()["changes"]
        assert status.data["change"] == history[0]
        assert history[0]["changed"] == ["online", "fw"] and not history[0]["retained"]
        board.publish("sf/dev-1/status", b'{"online":true,"fw":"1.2.3","rssi":-40}', retain=True)
        again = stream.wait_for(lambda e: e.kind == "status" and e.data["rssi"] == -40, 5, "the repeat")
        assert again.data["change"] is None
        assert all(e.data["device"] == "dev-1" for e in stream.snapshot())
    finally:
        board.close()
        stream.close()


def test_open_event_streams_are_capped(
    sqlite_store: SqliteStore, make_api: Callable[..., TestClient]
) -> None:
    api = make_api(sqlite_store, settings=ApiSettings(max_streams=1, rate_per_s=1000, rate_burst=1000))
    bus = api.app.state.api.bus  # type: ignore[attr-defined]

    async def with_one_stream_open() -> httpx.Response:
        held = bus.subscribe()
        try:
            return api.get("/api/v1/stream")
        finally:
            bus.unsubscribe(held)

    r = asyncio.run(with_one_stream_open())
    assert r.status_code == 503 and int(r.headers["Retry-After"]) > 0
