"""A headless Debian Chromium for the browser tests, one per test module, and a real `sensorfleet serve`
on a real Mosquitto for the modules that bring their own devices."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser

from support.browser import chromium
from support.mosquitto import Mosquitto
from support.serve import ServeProcess


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    found = Mosquitto(tmp_path_factory.mktemp("broker"))
    found.start()
    yield found
    found.stop()


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory, broker: Mosquitto) -> Iterator[ServeProcess]:
    """Its `token` is an admin token; `tokens` makes more."""
    found = ServeProcess(
        tmp_path_factory.mktemp("serve"),
        {"SENSORFLEET_MQTT_URL": broker.url, "SENSORFLEET_CLIENT_ID": "browser-test-ingest"},
    )
    try:
        found.start()
        yield found
    finally:
        found.close()
