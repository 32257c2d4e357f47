"""Alerts in the dashboard, in a real Chromium against a real `sensorfleet serve` on a real Mosquitto:
a firing and a pending alert on the fleet view and on the device page, with how their notifications
went; the device's past alerts a page at a time; and rules added, tested and removed on the rules
page with an admin token, which a read token sees but cannot change.

A webhook receiver that answers markup instead of a status line puts that markup in a notification's
error and in a test's result: both must reach the page as text.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import orjson
import pytest
from playwright.sync_api import Browser, Page, Route, expect

from ingest.api.tokens import Scope
from support.browser import DESKTOP, PageProblems, screenshot
from support.mosquitto import Mosquitto
from support.mqtt import Recorder
from support.procs import wait_until
from support.serve import ServeProcess
from support.webhook import WebhookReceiver

DEVICE = "al-1"
CATCH = "window.__ran = []; window.__xss = (n) => window.__ran.push(n);"
VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => window.__violations.push(e.violatedDirective));
"""
GARBAGE = "<img src=x onerror=__xss(1)><script>__xss(2)</script>"
REFUSED = ("status of 403", "status of 409", "status of 422")
"""Console lines of the answers a test provokes on purpose (the page shows them as messages)."""


class Board:
    """A device on the real broker whose temperature a test sets."""

    def __init__(self, broker: Mosquitto, serve: ServeProcess) -> None:
        self.client = Recorder(broker.port, client_id=DEVICE)
        self.serve = serve
        self.client.publish(f"sf/{DEVICE}/status", b'{"online":true,"fw":"1.0.0","boot":1}', retain=True)
        self.ts = int(time.time() * 1000) - 60_000

    def send(self, temperature: float) -> None:
        self.ts += 1000
        self.client.publish(
            f"sf/{DEVICE}/telemetry", orjson.dumps({"ts": self.ts, "temperature": temperature})
        )


@pytest.fixture(scope="module")
def board(broker: Mosquitto, serve: ServeProcess) -> Iterator[Board]:
    found = Board(broker, serve)
    found.send(20.0)  # a rule may only name a metric some device has sent
    wait_until(lambda: serve.http.get(f"/api/v1/devices/{DEVICE}").status_code == 200, 15, "device known")
    yield found
    found.client.close()


@pytest.fixture(scope="module")
def hostile_hook() -> Iterator[WebhookReceiver]:
    found = WebhookReceiver("garble", GARBAGE.encode())
    yield found
    found.close()


@pytest.fixture(scope="module")
def hook() -> Iterator[WebhookReceiver]:
    found = WebhookReceiver()
    yield found
    found.close()


def alerts(serve: ServeProcess, **params: str) -> list[dict[str, object]]:
    found: list[dict[str, object]] = serve.http.get("/api/v1/alerts", params=params).json()["alerts"]
    return found


def add_rule(serve: ServeProcess, rule: dict[str, object]) -> None:
    response = serve.http.post("/api/v1/alert-rules", json=rule)
    assert response.status_code == 201, response.text


def open_page(browser: Browser, url: str, init: str, bypass_csp: bool = False) -> tuple[Page, PageProblems]:
    context = browser.new_context(viewport=DESKTOP, bypass_csp=bypass_csp)
    context.add_init_script(init)
    page = context.new_page()
    problems = PageProblems(allowed=REFUSED)
    problems.watch(page)
    page.goto(url)
    return page, problems


def test_firing_and_pending_alerts_show_on_the_fleet_and_device_page_as_text(
    serve: ServeProcess, board: Board, hostile_hook: WebhookReceiver, browser: Browser
) -> None:
    add_rule(serve, {
        "name": "hot", "selector": {"devices": [DEVICE]}, "severity": "critical", "for_s": 0,
        "condition": {"kind": "threshold", "metric": "temperature", "above": 30},
        "webhooks": [hostile_hook.url],
    })  # fmt: skip
    add_rule(serve, {
        "name": "warm", "selector": {"all": True}, "severity": "warning", "for_s": "1h",
        "condition": {"kind": "threshold", "metric": "temperature", "above": 25},
    })  # fmt: skip

    def hook_failed() -> bool:
        notes = [n for a in alerts(serve, state="firing") for n in a["notifications"]]  # type: ignore[attr-defined]
        return any(n["last_error"] and GARBAGE in n["last_error"] for n in notes)

    def warm_pending() -> bool:
        # The ingest reads new rules on its next tick (1 s) and evaluates no reading before that.
        board.send(35.0)
        return len(alerts(serve, state="pending")) == 1

    wait_until(warm_pending, 15, "warm pending", 0.5)
    wait_until(hook_failed, 15, "the hostile receiver's answer recorded as the notification's error")

    read_token, _ = serve.tokens.create(Scope.READ, "alerts dashboard")
    page, problems = open_page(browser, f"{serve.url}/#token={read_token}", CATCH, bypass_csp=True)
    panel = page.locator("#alerts")
    expect(panel.locator("li")).to_have_count(2, timeout=15_000)
    firing, pending = panel.locator('li[data-state="firing"]'), panel.locator('li[data-state="pending"]')
    expect(firing).to_contain_text("critical hot")
    expect(firing).to_contain_text(DEVICE)
    expect(firing).to_contain_text("value 35")
    expect(pending).to_contain_text("warm")
    expect(pending).to_contain_text("pending (not firing yet)")
    badge = page.locator(f'.device[data-device="{DEVICE}"] .alert-badge')
    expect(badge).to_have_text("critical")
    screenshot(page, "alerts-fleet")

    page.click(f'#alerts li[data-state="firing"] a:text("{DEVICE}")')
    device_panel = page.locator("#alerts")
    expect(device_panel.locator(".alerts-active > li")).to_have_count(2, timeout=15_000)
    hot = device_panel.locator('.alerts-active > li[data-state="firing"]')
    expect(hot.locator(".note-error").first).to_contain_text(GARBAGE)
    # A read token sees a webhook's scheme and host only.
    waiting = hot.locator('.note[data-state="waiting"]').first
    expect(waiting).to_contain_text("http://127.0.0.1/… (firing) waiting")
    expect(hot.locator('.note[data-state="delivered"]')).to_contain_text("mqtt")  # the $alerts topic took it
    assert "started" in hot.inner_text() and "fired" in hot.inner_text()
    screenshot(page, "alerts-device")
    assert page.locator("main img, main script").count() == 0
    assert page.evaluate("window.__ran") == []

    # Three past alerts of the same rule, then the history read one at a time ("Older"), as the API
    # pages it with `before`: the page size is cut to one on the way to the server.
    for _ in range(3):
        board.send(10.0)
        board.send(35.0)
    board.send(10.0)
    wait_until(lambda: len(alerts(serve, state="resolved", device=DEVICE)) == 4, 15, "four resolved")

    def one_per_page(route: Route) -> None:
        url = route.request.url
        if "state=active" not in url:
            url = re.sub(r"limit=(\d+)", lambda m: f"limit={int(m[1]) // 20}", url)
        route.continue_(url=url)

    page.route(re.compile(r".*/api/v1/alerts\?.*"), one_per_page)
    page.reload()
    past = device_panel.locator(".alerts-past > li")
    expect(past).to_have_count(1, timeout=15_000)
    expect(device_panel.locator(".alerts-active > li")).to_have_text("No active alerts.")
    for shown in range(2, 5):
        device_panel.locator(".alerts-older").click()
        expect(past).to_have_count(shown)
    expect(device_panel.locator(".alerts-older")).to_be_hidden()
    ids = [int(x) for x in past.evaluate_all("(els) => els.map((e) => e.dataset.alert)")]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 4
    expect(past.first).to_contain_text("resolved")
    problems.assert_clean()
    page.context.close()


def test_rules_page_adds_tests_and_removes_a_rule_with_an_admin_token(
    serve: ServeProcess, board: Board, hook: WebhookReceiver, hostile_hook: WebhookReceiver, browser: Browser
) -> None:
    page, problems = open_page(browser, f"{serve.url}/#token={serve.token}", VIOLATIONS + CATCH)
    page.click('header a:text("Alerts")')
    expect(page.locator("#rule-form")).to_be_visible(timeout=15_000)
    form = page.locator("#rule-form")
    error = page.locator("#rule-error")

    def fill(name: str, webhooks: str) -> None:
        form.locator("[name=name]").fill(name)
        form.locator("[name=selector]").select_option("devices")
        form.locator("[name=target]").fill(DEVICE)
        form.locator("[name=kind]").select_option("offline")
        form.locator("[name=for]").fill("3s")
        form.locator("[name=severity]").select_option("info")
        form.locator("[name=webhooks]").fill(webhooks)
        form.locator("button[type=submit]").click()

    fill("door", f"{hook.url}\n{hostile_hook.url}")
    rule = page.locator('.rule[data-rule="door"]')
    expect(rule).to_contain_text(f"device {DEVICE}: offline for 3 s")
    expect(rule).to_contain_text(hook.url)  # an admin sees whole URLs
    stored = {r["name"]: r for r in serve.http.get("/api/v1/alert-rules").json()["rules"]}["door"]
    assert stored["selector"]["devices"] == [DEVICE] and stored["condition"] == {"kind": "offline"}
    assert (stored["for_s"], stored["severity"]) == (3, "info")

    fill("bad-hook", "ftp://example.com/x")
    expect(error).to_contain_text("422: webhooks.0: URL scheme should be 'http' or 'https'")
    fill("door", hook.url)
    expect(error).to_contain_text("409:")
    fill("<img src=x onerror=__xss(3)>", hook.url)  # a rule name is plain: the API refuses markup
    expect(error).to_contain_text("a rule name is 1-64 letters")
    names = [r["name"] for r in serve.http.get("/api/v1/alert-rules").json()["rules"]]
    assert "bad-hook" not in names and not any("<" in n for n in names)

    rule.locator("button.test").click()
    results = rule.locator(".test-results")
    expect(results.locator("li.ok")).to_have_text(f"{hook.url}: took the test")
    expect(results.locator("li.error")).to_contain_text(GARBAGE)
    wait_until(lambda: len(hook.received) == 1, 5, "the test notification")

    screenshot(page, "alerts-rules")
    page.once("dialog", lambda dialog: dialog.accept())
    rule.locator("button.remove").click()
    expect(rule).to_have_count(0)
    assert "door" not in [r["name"] for r in serve.http.get("/api/v1/alert-rules").json()["rules"]]

    assert page.locator("main img, main script").count() == 0
    assert page.evaluate("window.__ran") == [] and page.evaluate("window.__violations") == []
    refused = [f"POST {serve.url}/api/v1/alert-rules: HTTP {code}" for code in (422, 409, 422)]
    assert problems.failed_requests == refused
    problems.failed_requests.clear()
    problems.assert_clean()
    page.context.close()


def test_a_read_token_sees_the_rules_but_cannot_change_them(
    serve: ServeProcess, board: Board, browser: Browser
) -> None:
    add_rule(serve, {
        "name": "secret-hook", "selector": {"devices": [DEVICE]}, "condition": {"kind": "offline"},
        "webhooks": ["https://hooks.example.com/services/T0/B0/s3cret"],
    })  # fmt: skip
    read_token, _ = serve.tokens.create(Scope.READ, "rules reader")
    page, problems = open_page(browser, f"{serve.url}/#token={read_token}", VIOLATIONS)
    page.goto(f"{serve.url}/#/alerts")
    rule = page.locator('.rule[data-rule="secret-hook"]')
    expect(rule).to_contain_text("https://hooks.example.com/…", timeout=15_000)
    assert "s3cret" not in page.locator("main").inner_text()

    form = page.locator("#rule-form")
    form.locator("[name=name]").fill("sneaky")
    form.locator("[name=kind]").select_option("offline")
    form.locator("button[type=submit]").click()
    expect(page.locator("#rule-error")).to_contain_text("this token has scope read; this needs admin")
    expect(form.locator("button[type=submit]")).to_be_disabled()
    expect(rule.locator("button.remove")).to_be_disabled()
    expect(page.locator("#rules-note")).to_contain_text("admin scope")
    assert "sneaky" not in [r["name"] for r in serve.http.get("/api/v1/alert-rules").json()["rules"]]
    assert page.evaluate("window.__violations") == []
    assert problems.failed_requests == [f"POST {serve.url}/api/v1/alert-rules: HTTP 403"]
    problems.failed_requests.clear()
    problems.assert_clean()
    page.context.close()


# --- Every alert field, from crafted API answers: whatever the API may send, the page shows as text. ---


def payload(n: int) -> str:
    return f"'><img src=x onerror=__xss({n})><svg onload=__xss({n})><script>__xss({n})</script>"


CRAFTED_ALERT = {
    "id": 7, "rule": payload(1), "device": payload(2), "state": "firing",
    "started": 1_764_000_000_000, "fired": 1_764_000_001_000, "resolved": None,
    "value": {payload(3): payload(4), "nested": {"x": payload(5)}},
    "notifications": [{
        "target": payload(6), "transition": "firing", "state": "waiting", "attempts": 3,
        "delivered": None, "last_error": payload(7),
    }],
}  # fmt: skip
CRAFTED_RULE = {
    "name": payload(8), "selector": {"devices": [payload(9)], "tag": None, "all": False},
    "condition": {"kind": "threshold", "metric": payload(10), "above": 1.0, "below": None, "hysteresis": 0},
    "for_s": 0, "severity": payload(11), "webhooks": [payload(12)],
}  # fmt: skip
CRAFTED_TEST = {payload(13): payload(14)}


def _crafted(route: Route) -> None:
    url = route.request.url
    if "/api/v1/alerts?" in url:
        body: object = {"alerts": [CRAFTED_ALERT], "next": None}
    elif url.endswith("/test"):
        body = {"results": CRAFTED_TEST}
    else:
        body = {"rules": [CRAFTED_RULE]}
    route.fulfill(content_type="application/json", body=orjson.dumps(body))


def test_every_alert_field_of_crafted_api_answers_renders_as_text(
    serve: ServeProcess, board: Board, browser: Browser
) -> None:
    page, problems = open_page(browser, "about:blank", CATCH, bypass_csp=True)
    page.route(re.compile(r".*/api/v1/(alerts\?|alert-rules).*"), _crafted)
    page.goto(f"{serve.url}/#token={serve.token}")
    fleet_panel = page.locator("#alerts")
    expect(fleet_panel.locator("li")).to_have_count(1, timeout=15_000)
    for n in (1, 2, 4, 5):
        assert payload(n) in fleet_panel.inner_text(), f"payload {n} is not shown as text on the fleet view"

    page.goto(f"{serve.url}/#/device/{DEVICE}")
    expect(page.locator("#alerts .alerts-active > li.alert")).to_have_count(1, timeout=15_000)
    shown = page.locator("#alerts").text_content() or ""
    assert payload(3).replace("_", " ") in shown  # a value's key reads as words: `silent_s` → "silent s"
    for n in (1, 4, 5, 6, 7):
        assert payload(n) in shown, f"payload {n} is not shown as text on the device page"

    page.goto(f"{serve.url}/#/alerts")
    rule = page.locator(".rule")
    expect(rule).to_have_count(1, timeout=15_000)
    rule.locator("button.test").click()
    expect(rule.locator(".test-results li.error")).to_have_count(1)  # not the "sending…" placeholder
    shown = rule.inner_text()
    for n in (8, 9, 10, 11, 12, 13, 14):
        assert payload(n) in shown, f"payload {n} is not shown as text on the rules page"

    assert page.locator("main img, main svg, main script").count() == 0
    assert page.evaluate("window.__ran") == []
    problems.assert_clean()
    page.context.close()
