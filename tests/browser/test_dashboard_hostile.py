"""Device-controlled text is shown as text: script payloads in every field the dashboard shows, in a
real Chromium against a real `sensorfleet serve`.

The page runs with `bypass_csp`, so these tests hold the rendering itself to text, not the
Content-Security-Policy that would otherwise stop most payloads on its own (that has its own test).
A payload that runs calls `__xss(n)`; a request to any host but 127.0.0.1 is recorded and aborted.
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlparse

from paho.mqtt.client import MQTTMessage
from playwright.sync_api import Browser, Page, Route, expect

from support.browser import DESKTOP, PageProblems
from support.mosquitto import Mosquitto
from support.mqtt import Recorder
from support.procs import wait_until
from support.serve import SENSORFLEET, ServeProcess

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


# --- The real chain: payloads published over MQTT by a board, stored by serve, shown in the browser. ---

BOARD = "hostile-1"
STATUS_FIELDS = ["fw", "rssi", "outbox", "dropped", "reset_cause", "hal", "error", "uptime_s", "note"]
"""Every status key the page could show: the core ones, the known extras and one no schema knows."""


@dataclass
class HostileBoard:
    """A board on the real broker that sends payloads where it can and answers commands with more."""

    serve: ServeProcess
    client: Recorder
    result: str = hostile(30)
    error: str = hostile(31)

    def __post_init__(self) -> None:
        self.client.client.message_callback_add(f"sf/{BOARD}/cmd", self._answer)

    def _answer(self, client: object, userdata: object, message: MQTTMessage) -> None:
        command = json.loads(message.payload)
        reply = {"id": command["id"], "ok": True, "result": {"note": self.result}}
        if command["op"] == "flush":
            reply = {"id": command["id"], "ok": False, "error": self.error}
        self.client.client.publish(f"sf/{BOARD}/cmd/result", json.dumps(reply), qos=1)

    def status(self) -> dict[str, object]:
        found: dict[str, object] = self.serve.http.get(f"/api/v1/devices/{BOARD}").json().get("status", {})
        return found

    def send_status(self, boot: int, fields: dict[str, str], retain: bool = False) -> None:
        body = {"online": True, "boot": boot, **fields}
        self.client.publish(f"sf/{BOARD}/status", json.dumps(body), retain=retain)
        wait_until(lambda: self.status().get("boot") == boot, 10, f"status boot {boot}", 0.2)

    def accepts(self, name: str, payload: str, probe: int) -> bool:
        """Whether the ingest stores a status that carries `payload` as `name`: a probe, then a plain
        status behind it on the same topic, so once that one is stored the probe has been handled."""
        self.client.publish(f"sf/{BOARD}/status", json.dumps({"online": True, "boot": probe, name: payload}))
        self.send_status(probe + 1, {})
        changes = self.serve.http.get(f"/api/v1/devices/{BOARD}/status-history", params={"limit": 1000})
        return any(change["boot"] == probe for change in changes.json()["changes"])


def latest(serve: ServeProcess, device: str) -> dict[str, object]:
    found: dict[str, object] = serve.http.get(f"/api/v1/devices/{device}/latest").json()["values"]
    return found


def test_payloads_from_a_real_board_stay_text_in_every_view(
    serve: ServeProcess, broker: Mosquitto, browser: Browser
) -> None:
    board = HostileBoard(serve, Recorder(broker.port, topics=[f"sf/{BOARD}/cmd"], client_id=BOARD))
    try:
        board.send_status(1, {})
        # Short payloads: a strict field (fw: printable, no spaces, 64 at most) may still take them.
        offered = {name: hostile(40 + i, short=True) for i, name in enumerate(STATUS_FIELDS)}
        taken = {
            name: p for i, (name, p) in enumerate(offered.items()) if board.accepts(name, p, 100 + 2 * i)
        }
        board.send_status(200, taken, retain=True)
        device = serve.http.get(f"/api/v1/devices/{BOARD}").json()
        # A status is taken with the keys no schema knows left out: only what was kept can be shown.
        stored = {name: p for name, p in taken.items() if p in (device.get(name), device["status"].get(name))}
        assert stored, "the ingest stored no status field with a payload: this test would prove nothing"

        metric = hostile(50, short=True)
        now = int(time.time() * 1000)
        board.client.publish(f"sf/{BOARD}/telemetry", json.dumps({"ts": now - 1000, metric: 1.0}))
        board.client.publish(f"sf/{BOARD}/telemetry", json.dumps({"ts": now, "temperature": 21.5}))
        wait_until(lambda: "temperature" in latest(serve, BOARD), 10, "the plain reading", 0.2)
        metric_stored = metric in latest(serve, BOARD)

        # An id is a topic level: the broker takes markup there, whatever the ingest then does with it.
        hostile_id = hostile(51, short=True).replace('"', "")
        board.client.publish(f"sf/{hostile_id}/status", json.dumps({"online": True, "fw": "1"}))
        tag = hostile(52, short=True)
        tagged = subprocess.run(
            [SENSORFLEET, "device", "tag", BOARD, f"site={tag}", "--data-dir", str(serve.data_dir)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert tagged.returncode == 0, tagged.stderr
        wait_until(
            lambda: serve.http.get(f"/api/v1/devices/{BOARD}").json()["tags"] == {"site": tag}, 10, "tag"
        )
        ids = [d["id"] for d in serve.http.get("/api/v1/devices").json()["devices"]]

        page, watch = watched_page(browser)
        page.goto(f"{serve.url}/#token={serve.token}")
        card = page.locator(f'.device[data-device="{BOARD}"]')
        expect(card).to_contain_text("21.5 °C", timeout=15_000)
        fleet = page.locator("#fleet").inner_text()
        for name in {"fw", "rssi", "outbox", "dropped"} & stored.keys():
            assert stored[name] in fleet, f"the fleet view does not show the {name} as text"
        if metric_stored:
            assert metric in fleet
        if hostile_id in ids:
            assert hostile_id in fleet
        watch.assert_inert()

        card.click()
        expect(page.locator('.chart[data-metric="temperature"]')).to_be_visible(timeout=15_000)
        page.click('[data-op="ping"]')
        expect(page.locator("#results li.ok")).to_contain_text(board.result, timeout=15_000)
        page.click('[data-op="flush"]')
        expect(page.locator("#results li.error")).to_contain_text(board.error, timeout=15_000)
        # The same payloads live, over the event stream.
        board.send_status(300, stored)
        board.client.publish(f"sf/{BOARD}/telemetry", json.dumps({"ts": now + 1000, "temperature": 22.5}))
        expect(page.locator("#history li").first).to_have_attribute("data-boot", "300", timeout=10_000)
        shown = page.locator("main").inner_text()
        for name, payload in {**stored, "tag": tag}.items():
            assert payload in shown, f"the device view does not show the {name} as text"
        if metric_stored:
            assert metric in shown
        watch.assert_inert()
        page.context.close()
    finally:
        board.client.close()
