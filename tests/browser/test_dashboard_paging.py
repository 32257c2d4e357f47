"""The fleet view shows every device of a fleet larger than one page of the API's device list, in a real
Chromium against a real `sensorfleet serve` fed over a real broker."""

from __future__ import annotations

from playwright.sync_api import Browser, expect

from support.browser import DESKTOP, PageProblems
from support.mosquitto import Mosquitto
from support.mqtt import Recorder
from support.procs import wait_until
from support.serve import ServeProcess

DEVICES = 520
PAGE = 500
"""The largest page the API answers: the fleet is larger."""


def beyond_first_page(serve: ServeProcess) -> list[object]:
    first = serve.http.get("/api/v1/devices", params={"limit": PAGE}).json()
    if first["next"] is None:
        return []
    found: list[object] = serve.http.get("/api/v1/devices", params={"after": first["next"]}).json()["devices"]
    return found


def test_the_fleet_view_pages_through_the_whole_device_list(
    serve: ServeProcess, broker: Mosquitto, browser: Browser
) -> None:
    publisher = Recorder(broker.port, client_id="fleet-of-boards")
    try:
        for n in range(DEVICES):
            publisher.client.publish(f"sf/page-{n:03d}/status", b'{"online":true,"fw":"1.0.0"}', qos=1)
        wait_until(lambda: bool(beyond_first_page(serve)), 30, "devices beyond the API's first page")
    finally:
        publisher.close()
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    problems = PageProblems()
    problems.watch(page)
    page.goto(f"{serve.url}/#token={serve.token}")
    expect(page.locator(".device")).to_have_count(DEVICES, timeout=30_000)
    expect(page.locator('.device[data-device="page-519"]')).to_be_attached()
    problems.assert_clean()
    context.close()
