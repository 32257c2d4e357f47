"""Server-Sent Events over real HTTP: a reading published over MQTT reaches a connected client within a
second, through the real intake, router and the event bus; the device filter holds."""

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

from ingest.api import create_api
from ingest.api.config import ApiSettings
from ingest.api.events import EventBus
from ingest.api.service import publish_work
from ingest.api.tokens import Scope, TokenStore
from ingest.codec.payload import Limits
from ingest.intake.mqtt import IntakeConfig, MqttIntake
from ingest.metrics import Metrics
from ingest.registry.devices import Registry
from ingest.router import Router
from ingest.storage.sqlite import SqliteStore
from ingest.writer import Message
from support.mosquitto import Mosquitto
from support.mqtt import Recorder
from support.procs import free_port, wait_until


@pytest.fixture
def stream_url(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[tuple[str, str]]:
    """(base URL, read token) of an API on uvicorn whose bus is fed by a real intake on `mosquitto`."""
    bus = EventBus()
    registry = Registry(tmp_path / "registry.sqlite")
    store = SqliteStore(tmp_path / "telemetry.sqlite")
    router = Router("sf", Limits(), registry, Metrics())

    def received(message: Message) -> None:
        publish_work(bus, router.route(message))
        message.ack()

    intake = MqttIntake(IntakeConfig(mosquitto.url, "sse-test-ingest", session_expiry_s=60), received)
    intake.start()
    tokens = TokenStore(tmp_path)
    app = create_api(reader=store, directory=registry, tokens=tokens, bus=bus)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started and intake.connected.is_set(), 20, "uvicorn and the intake")
    yield f"http://127.0.0.1:{port}", tokens.create(Scope.READ)[0]
    server.should_exit = True
    thread.join(20)
    intake.stop()
    registry.close()
    store.close()


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
        assert all(e.data["device"] == "dev-1" for e in stream.snapshot())
    finally:
        board.close()
        stream.close()


def test_open_event_streams_are_capped(
    sqlite_store: SqliteStore, make_api: Callable[..., TestClient]
) -> None:
    bus = EventBus()
    api = make_api(
        sqlite_store, bus=bus, settings=ApiSettings(max_streams=1, rate_per_s=1000, rate_burst=1000)
    )

    async def with_one_stream_open() -> httpx.Response:
        held = bus.subscribe()
        try:
            return api.get("/api/v1/stream")
        finally:
            bus.unsubscribe(held)

    r = asyncio.run(with_one_stream_open())
    assert r.status_code == 503 and int(r.headers["Retry-After"]) > 0
