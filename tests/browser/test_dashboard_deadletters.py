"""The dashboard shows dead letters, with a read token, in a real Chromium against a real `sensorfleet
serve`: the count for the fleet and on the device's card, the newest reasons in the fleet and device
views, and a hostile topic and reason from a board as text that never runs."""

from __future__ import annotations

import orjson
from playwright.sync_api import Browser, expect

from ingest.api.tokens import Scope
from support.browser import DESKTOP, PageProblems
from support.mosquitto import Mosquitto
from support.mqtt import Recorder
from support.procs import wait_until
from support.serve import ServeProcess

CATCH = "window.__ran = []; window.__xss = (n) => window.__ran.push(n);"
HOSTILE_TOPIC = "sf/<img src=x onerror=__xss(1)>/telemetry"
HOSTILE_METRIC = "<svg onload=__xss(2)>"
HOSTILE_JSON = b"<script>__xss(3)</script>"


def test_dead_letter_counts_and_hostile_reasons_show_as_text(
    serve: ServeProcess, broker: Mosquitto, browser: Browser
) -> None:
    board = Recorder(broker.port, client_id="dl-board")
    try:
        board.publish("sf/dl-1/telemetry", orjson.dumps({"v": 1.0}))
        wait_until(lambda: serve.http.get("/api/v1/devices/dl-1").status_code == 200, 15, "dl-1 known")
        board.publish("sf/dl-1/telemetry", orjson.dumps({HOSTILE_METRIC: 1.0}))
        board.publish("sf/dl-1/telemetry", HOSTILE_JSON)
        board.publish(HOSTILE_TOPIC, orjson.dumps({"v": 1.0}))
    finally:
        board.close()

    def summary() -> dict[str, object]:
        found: dict[str, object] = serve.http.get("/api/v1/dead-letters/summary").json()
        return found

    wait_until(lambda: summary()["total"] == 3, 15, "three dead letters")
    reasons = [str(x["reason"]) for x in summary()["newest"]]  # type: ignore[attr-defined]
    assert any(HOSTILE_METRIC in r for r in reasons), reasons

    read_token, _ = serve.tokens.create(Scope.READ, "dashboard")
    context = browser.new_context(viewport=DESKTOP, bypass_csp=True)
    context.add_init_script(CATCH)
    page = context.new_page()
    problems = PageProblems()
    problems.watch(page)
    page.goto(f"{serve.url}/#token={read_token}")

    card = page.locator('.device[data-device="dl-1"]')
    expect(card.locator(".dead-letters")).to_have_text("dead letters 2", timeout=15_000)
    panel = page.locator("#deadletters")
    expect(panel).to_be_visible()
    expect(panel.locator(".dl-total")).to_contain_text("3 messages in the fleet could not be stored")
    expect(panel.locator(".dl-newest li")).to_have_count(3)
    shown = panel.inner_text()
    assert HOSTILE_TOPIC in shown
    for reason in reasons:
        assert reason in shown, f"the reason {reason!r} is not shown as text"
    assert panel.locator("img, svg, script").count() == 0

    page.goto(f"{serve.url}/#/device/dl-1")
    device_panel = page.locator("#deadletters")
    expect(device_panel.locator(".dl-total")).to_contain_text("2 messages from this device", timeout=15_000)
    expect(device_panel.locator(".dl-newest li")).to_have_count(2)
    assert HOSTILE_METRIC in device_panel.inner_text()
    assert device_panel.locator("img, svg, script").count() == 0

    assert page.evaluate("window.__ran") == []
    problems.assert_clean()
    context.close()
