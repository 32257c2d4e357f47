"""The fleet view with a fleet larger than one page of the API's device list, in a real Chromium against a
real `sensorfleet serve` fed over a real broker: it counts the whole fleet, builds cards only for what
is on screen, and still reaches every device by scrolling or filtering."""

from __future__ import annotations

from playwright.sync_api import Browser, Page, expect

from support.browser import DESKTOP, PageProblems
from support.mosquitto import Mosquitto
from support.mqtt import Recorder
from support.procs import wait_until
from support.serve import ServeProcess

DEVICES = 520
PAGE = 500
"""The largest page the API answers: the fleet is larger."""
LAST = f"page-{DEVICES - 1:03d}"


def beyond_first_page(serve: ServeProcess) -> list[object]:
    first = serve.http.get("/api/v1/devices", params={"limit": PAGE}).json()
    if first["next"] is None:
        return []
    found: list[object] = serve.http.get("/api/v1/devices", params={"after": first["next"]}).json()["devices"]
    return found


def card(page: Page, device: str):  # type: ignore[no-untyped-def]
    return page.locator(f'.device[data-device="{device}"]')


def test_the_fleet_view_counts_the_whole_fleet_and_makes_cards_only_near_the_screen(
    serve: ServeProcess, broker: Mosquitto, browser: Browser
) -> None:
    publisher = Recorder(broker.port, client_id="fleet-of-boards")
    try:
        for n in range(DEVICES):
            publisher.client.publish(f"sf/page-{n:03d}/status", b'{"online":true,"fw":"1.0.0"}', qos=1)
        wait_until(lambda: len(beyond_first_page(serve)) == DEVICES - PAGE, 30, "every device listed")
        context = browser.new_context(viewport=DESKTOP)
        page = context.new_page()
        problems = PageProblems()
        problems.watch(page)
        page.goto(f"{serve.url}/#token={serve.token}")

        # The count is the whole fleet's, from the API, while far fewer cards exist than devices.
        expect(card(page, "page-000")).to_be_visible(timeout=15_000)
        expect(page.locator("#counts")).to_contain_text(f"{DEVICES} devices")
        expect(page.locator("#counts")).to_contain_text(f"{DEVICES} online", timeout=15_000)
        made = page.locator(".device").count()
        assert 0 < made < DEVICES / 2, f"{made} cards for {DEVICES} devices"
        expect(card(page, LAST)).to_have_count(0)

        # A live update reaches a card on screen.
        publisher.client.publish("sf/page-001/status", b'{"online":true,"fw":"2.0.0"}', qos=1)
        expect(card(page, "page-001")).to_contain_text("fw 2.0.0", timeout=15_000)

        # Scrolling to the end makes the last cards (and gives up the first ones).
        for _ in range(10):
            page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
            page.wait_for_timeout(200)
            if card(page, LAST).count():
                break
        expect(card(page, LAST)).to_be_visible()
        expect(card(page, "page-000")).to_have_count(0)
        assert page.locator(".device").count() < DEVICES / 2

        # Filtering searches the whole fleet, not only the cards that exist.
        page.evaluate("window.scrollTo(0, 0)")
        page.fill("#filter", "page-51")
        expect(page.locator(".device")).to_have_count(10)
        expect(card(page, "page-518")).to_be_visible()
        page.fill("#filter", "")
        expect(card(page, "page-000")).to_be_visible()
        problems.assert_clean()
        context.close()
    finally:
        publisher.close()
