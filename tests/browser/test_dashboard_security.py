"""The dashboard under its Content-Security-Policy in a real Chromium against a real `sensorfleet serve`:
the page works with no violation, the policy stops injected markup, and a `/#token=` link asks before
it replaces the token the browser holds."""

from __future__ import annotations

import time
from collections.abc import Iterator

import orjson
import pytest
from playwright.sync_api import Browser, BrowserContext, Dialog, Page, expect

from ingest.api.tokens import Scope
from support.browser import DESKTOP, PageProblems, wait_in_page
from support.mosquitto import Mosquitto
from support.mqtt import Recorder
from support.serve import ServeProcess

DEVICE = "csp-1"
VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`));
window.__ran = [];
"""


@pytest.fixture(scope="module")
def device(broker: Mosquitto, serve: ServeProcess) -> Iterator[str]:
    """A device with a status and a reading, so both views have something to draw."""
    board = Recorder(broker.port, client_id=DEVICE)
    status = b'{"online":true,"fw":"1.0.0","boot":1,"outbox":0,"dropped":0}'
    board.publish(f"sf/{DEVICE}/status", status, retain=True)
    now = int(time.time() * 1000)
    for i in range(3):
        board.publish(f"sf/{DEVICE}/telemetry", orjson.dumps({"ts": now - 1000 * i, "temperature": 20.0 + i}))
    yield DEVICE
    board.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    found = browser.new_context(viewport=DESKTOP)
    found.add_init_script(VIOLATIONS)
    yield found
    found.close()


def meta_is_only_elements(page: Page) -> bool:
    """A status line holds one element per fact: a stray text node would be a 0 or "" shown raw."""
    found: bool = page.evaluate(
        "[...document.querySelectorAll('.meta')]"
        ".every((m) => [...m.childNodes].every((n) => n.nodeType === 1))"
    )
    return found


def violations(page: Page) -> list[str]:
    found: list[str] = page.evaluate("window.__violations")
    return found


def test_both_views_work_under_the_policy_and_it_stops_injected_markup(
    serve: ServeProcess, device: str, context: BrowserContext
) -> None:
    page = context.new_page()
    problems = PageProblems()
    problems.watch(page)
    response = page.goto(f"{serve.url}/#token={serve.token}")
    assert response is not None and "default-src 'self'" in response.headers["content-security-policy"]
    expect(page.locator(f'.device[data-device="{device}"] .state')).to_have_text("online", timeout=15_000)
    expect(page.locator(".spark .uplot")).to_have_count(1, timeout=10_000)
    assert meta_is_only_elements(page)
    page.click(f'.device[data-device="{device}"]')
    expect(page.locator('.chart[data-metric="temperature"] .uplot')).to_be_visible(timeout=10_000)
    assert meta_is_only_elements(page)
    assert violations(page) == []
    problems.assert_clean()

    # What the policy is for: markup that got onto the page anyway neither runs nor reaches out.
    page.evaluate(
        """() => {
          const box = document.createElement("div");
          box.innerHTML = '<img src=x onerror="window.__ran.push(1)"><img src="http://evil.example/x.png">';
          document.body.append(box);
        }"""
    )
    wait_in_page(page, "() => window.__violations.length >= 2", 10, "two policy violations")
    assert page.evaluate("window.__ran") == []
    assert any(v.startswith("script-src") for v in violations(page)), violations(page)
    assert any("evil.example" in v for v in violations(page)), violations(page)


def test_a_token_link_asks_before_replacing_a_different_stored_token(
    serve: ServeProcess, device: str, context: BrowserContext
) -> None:
    first, second = serve.tokens.create(Scope.READ, "first")[0], serve.tokens.create(Scope.READ, "second")[0]
    asked: list[str] = []
    answer = {"accept": False}

    def on_dialog(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.accept() if answer["accept"] else dialog.dismiss()

    def open_link(token: str) -> Page:
        page = context.new_page()
        page.on("dialog", on_dialog)
        page.goto(f"{serve.url}/#token={token}")
        expect(page.locator(".device")).to_have_count(1, timeout=15_000)
        return page

    def stored(page: Page) -> str:
        found: str = page.evaluate("localStorage.getItem('sensorfleet.token')")
        return found

    page = open_link(first)  # nothing held yet: signed in without a question
    assert asked == [] and stored(page) == first
    page = open_link(first)  # the same token again: nothing to ask
    assert asked == [] and stored(page) == first
    page = open_link(second)  # another token: asked, and declined
    assert len(asked) == 1 and "Replace" in asked[0]
    assert stored(page) == first and "#token" not in page.url
    answer["accept"] = True
    page = open_link(second)
    assert len(asked) == 2 and stored(page) == second
