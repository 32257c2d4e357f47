"""Device-controlled text is shown as text: script payloads in every field the dashboard shows, in a
real Chromium against a real `sensorfleet serve`.

The page runs with `bypass_csp`, so these tests hold the rendering itself to text, not the
Content-Security-Policy that would otherwise stop most payloads on its own (that has its own test).
A payload that runs calls `__xss(n)`; a request to any host but 127.0.0.1 is recorded and aborted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlparse

from playwright.sync_api import Browser, Page, Route, expect

from support.browser import DESKTOP, PageProblems
from support.serve import ServeProcess

CATCH = "window.__ran = []; window.__xss = (n) => window.__ran.push(n);"
NOW_MS = 1_764_000_000_000
DASHBOARD = Path(__file__).parents[2] / "dashboard"


def hostile(n: int, short: bool = False) -> str:
    """Markup that calls `__xss(n)` if parsed as HTML. The short form has no spaces and fits 35
    characters, for fields with a strict charset or length; the long one tries more ways in and has
    no double quote, so that it reads the same inside JSON (a command result is shown as JSON)."""
    if short:
        return f'"><img/src="x"/onerror="__xss({n})">'
    return (
        f"'><img src=x onerror=__xss({n})><svg onload=__xss({n})><script>__xss({n})</script>"
        f"<img src=//evil.example/{n}.png><a href=javascript:__xss({n})>x</a>"
    )


@dataclass
class Watch:
    """What a page did that it must not: payloads run and requests to foreign hosts."""

    page: Page
    foreign: list[str] = field(default_factory=list)

    def ran(self) -> list[int]:
        found: list[int] = self.page.evaluate("window.__ran")
        return found

    def assert_inert(self) -> None:
        assert self.ran() == [], f"payloads ran: {self.ran()}"
        assert self.foreign == [], f"requests left for foreign hosts: {self.foreign}"


def watched_page(browser: Browser) -> tuple[Page, Watch]:
    context = browser.new_context(viewport=DESKTOP, bypass_csp=True)
    context.add_init_script(CATCH)
    page = context.new_page()
    watch = Watch(page)

    def foreign(route: Route) -> None:
        watch.foreign.append(route.request.url)
        route.abort()

    context.route(lambda url: urlparse(url).hostname != "127.0.0.1", foreign)
    return page, watch


# --- Every field, from crafted API answers: whatever ingest accepts, the page must show it as text. ---

DEVICE = hostile(1)
METRIC = hostile(2)
SHOWN: dict[str, str] = {
    "device id": DEVICE,
    "metric name": METRIC,
    "fw": hostile(3, short=True),
    "rssi": hostile(4),
    "outbox": hostile(5),
    "dropped": hostile(6),
    "reset_cause": hostile(7),
    "status extra": hostile(8),
    "tag value": hostile(9),
    "tag key": hostile(10),
    "history fw": hostile(11, short=True),
    "command result": hostile(12),
    "command error": hostile(13),
    "live metric": hostile(15),
    "live extra": hostile(16),
    "received": hostile(17),
}
"""Each field the page shows, with the payload it gets; each must end up on the page as text."""


def _device() -> dict[str, object]:
    return {
        "id": DEVICE,
        "online": True,
        "last_seen": NOW_MS,
        "fw": SHOWN["fw"],
        "rssi": SHOWN["rssi"],
        "status": {
            "online": True,
            "fw": SHOWN["fw"],
            "boot": hostile(20),
            "outbox": SHOWN["outbox"],
            "dropped": SHOWN["dropped"],
            "reset_cause": SHOWN["reset_cause"],
            "error": SHOWN["status extra"],
        },
        "tags": {"site": SHOWN["tag value"], SHOWN["tag key"]: "x"},
        "latest": {"device": DEVICE, "ts": NOW_MS, "values": {METRIC: 1.5}, "at": {METRIC: NOW_MS}},
        "completeness": {"received": SHOWN["received"], "missing": hostile(21), "duplicates": 0, "boots": []},
    }


def _events() -> str:
    events = [
        ("reading", {"device": DEVICE, "ts": NOW_MS, "values": {SHOWN["live metric"]: 2.5, METRIC: 1.6}}),
        (
            "status",
            {**_device()["status"], "device": DEVICE, "boot": 3, "note": SHOWN["live extra"]},  # type: ignore[dict-item]
        ),
        ("command_result", {"device": DEVICE, "id": hostile(22), "ok": True, "result": hostile(23)}),
    ]
    return "".join(f"event: {kind}\ndata: {json.dumps(data)}\n\n" for kind, data in events)


def _answer(route: Route) -> None:
    request = route.request
    path = urlparse(request.url).path
    if path == "/api/v1/stream":
        route.fulfill(content_type="text/event-stream", body=_events())
        return
    if path == "/api/v1/devices":
        body: object = {"devices": [_device()]}
    elif path.endswith("/status-history"):
        change = {"at": NOW_MS, "online": True, "fw": SHOWN["history fw"], "boot": hostile(24)}
        body = {
            "device": DEVICE,
            "changes": [{**change, "changed": ["online", "boot", "fw"], "retained": False}],
        }
    elif path.endswith("/series"):
        body = {"device": DEVICE, "metric": METRIC, "agg": "mean", "every_ms": 60_000, "start_ms": NOW_MS,
                "end_ms": NOW_MS + 60_000, "points": [[NOW_MS, 1.5]], "truncated": False}  # fmt: skip
    elif path.endswith("/commands"):
        op = json.loads(request.post_data or "{}").get("op")
        state = {"status": "ok", "result": {SHOWN["command result"]: SHOWN["command result"]}}
        if op == "flush":
            state = {"status": "error", "error": SHOWN["command error"]}
        body = {"id": "c1", "device": DEVICE, "op": op, **state}
    else:
        body = _device()
    route.fulfill(content_type="application/json", body=json.dumps(body))


def test_every_shown_field_of_crafted_api_answers_renders_as_text(
    serve: ServeProcess, browser: Browser
) -> None:
    page, watch = watched_page(browser)
    problems = PageProblems()
    problems.watch(page)
    page.route("**/api/v1/**", _answer)

    page.goto(f"{serve.url}/#token=sft_crafted")
    card = page.locator(".device")
    expect(card).to_have_count(1, timeout=15_000)
    expect(card).to_contain_text("2.50")  # the stream's reading has arrived
    watch.assert_inert()
    fleet_text = card.inner_text()
    for name in ("device id", "metric name", "fw", "rssi", "outbox", "dropped", "received", "live metric"):
        assert SHOWN[name] in fleet_text, f"the fleet card does not show the {name} as text"

    page.goto(f"{serve.url}/#/device/{quote(DEVICE, safe='')}")
    expect(page.locator(".chart")).to_have_count(1, timeout=15_000)
    page.click('[data-op="ping"]')
    expect(page.locator("#results li.ok")).to_contain_text(SHOWN["command result"], timeout=10_000)
    page.click('[data-op="flush"]')
    expect(page.locator("#results li.error")).to_contain_text(SHOWN["command error"], timeout=10_000)
    expect(page.locator("#summary")).to_contain_text(SHOWN["live extra"], timeout=10_000)
    device_text = page.locator("main").inner_text()
    for name, payload in SHOWN.items():
        if name not in ("received", "live metric"):  # seen above; the device view shows neither twice
            assert payload in device_text, f"the device view does not show the {name} as text"

    watch.assert_inert()
    problems.assert_clean()
    page.context.close()


MARKUP_SINKS = ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "createContextualFragment")


def test_the_page_never_parses_markup_from_strings() -> None:
    for script in DASHBOARD.glob("*.js"):
        for sink in MARKUP_SINKS:
            assert sink not in script.read_text(), (
                f"{script.name} uses {sink}: build elements with dom.js's h()"
            )
