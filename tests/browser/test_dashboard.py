"""The dashboard in a real Chromium against a real `sensorfleet serve`, real Mosquitto and virtual boards
running the real firmware. Screenshots of both views at desktop and phone widths go to test-artifacts/."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from ingest.api.tokens import Scope, TokenStore
from ingest.provision.virtual import VirtualFleet, build_fleet
from ingest.state.migrate import open_state
from support.browser import DESKTOP, PHONE, PageProblems, screenshot
from support.mosquitto import Mosquitto
from support.mqtt import Recorder
from support.procs import Process, free_port, wait_until

BOARDS = 3
KEEPALIVE_S = 2


@dataclass
class Stack:
    base: str
    token: str
    api: httpx.Client
    fleet: VirtualFleet
    broker_port: int

    def devices(self) -> list[dict[str, object]]:
        body: dict[str, list[dict[str, object]]] = self.api.get("/api/v1/devices").json()
        return body["devices"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("dashboard")
    broker = Mosquitto(root / "mosquitto")
    broker.start()
    http_port = free_port()
    data = root / "data"
    serve = Process(
        [
            sys.executable, "-m", "ingest", "serve",
            "--mqtt-url", broker.url, "--data-dir", str(data), "--http-port", str(http_port),
        ],
        root / "serve.log",
    )  # fmt: skip
    serve.start()
    base = f"http://127.0.0.1:{http_port}"
    api = httpx.Client(base_url=base, timeout=10)
    fleet = build_fleet(root / "boards", BOARDS, "127.0.0.1", broker.port, "sf", 0.5)
    for member in fleet.boards:
        # A short keepalive, so the broker declares a vanished board dead within seconds.
        config_file = member.board.dir / "config.json"
        config = json.loads(config_file.read_text())
        config["mqtt"]["keepalive"] = KEEPALIVE_S
        config_file.write_text(json.dumps(config))
    try:
        wait_until(lambda: _healthy(api, serve), 30, "sensorfleet serve")
        secret, _ = TokenStore(open_state(data)).create(Scope.COMMAND, name="browser test")
        api.headers["Authorization"] = f"Bearer {secret}"
        fleet.start()
        s = Stack(base, secret, api, fleet, broker.port)
        wait_until(lambda: sum(bool(d["online"]) for d in s.devices()) == BOARDS, 60, "boards online")
        yield s
    finally:
        fleet.stop()
        serve.stop()
        broker.stop()
        api.close()


def _healthy(api: httpx.Client, serve: Process) -> bool:
    serve.check_alive("sensorfleet serve")
    try:
        return api.get("/healthz").status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def page(browser: Browser) -> Iterator[tuple[Page, PageProblems]]:
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    problems = PageProblems()
    problems.watch(page)
    yield page, problems
    context.close()


def rfc3339(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


def card(page: Page, device: str):  # type: ignore[no-untyped-def]
    return page.locator(f'.device[data-device="{device}"]')


def test_fleet_lists_every_board_online_and_updates_without_reload(
    stack: Stack, page: tuple[Page, PageProblems]
) -> None:
    p, problems = page
    p.goto(f"{stack.base}/#token={stack.token}")
    expect(p.locator(".device")).to_have_count(BOARDS, timeout=15_000)
    for member in stack.fleet.boards:
        expect(card(p, member.device_id).locator(".state")).to_have_text("online")
    expect(p.locator(".online-count")).to_have_text(f"{BOARDS} online")
    assert "#token" not in p.url, "the token must not stay in the address bar"

    # Every reading on the event stream moves the card's "last seen" time; the page never reloads.
    seen = card(p, "sim-1").locator("[data-seen]")
    first = int(seen.get_attribute("data-seen") or 0)
    navigations: list[str] = []
    p.on("framenavigated", lambda frame: navigations.append(frame.url))
    p.wait_for_function(
        "before => Number(document.querySelector("
        "'.device[data-device=\"sim-1\"] [data-seen]').dataset.seen) > before",
        arg=first,
        timeout=20_000,
    )
    assert navigations == [], "values must update in place, not by reloading"
    screenshot(p, "fleet-desktop")
    p.set_viewport_size(PHONE)
    expect(card(p, "sim-1")).to_be_visible()
    screenshot(p, "fleet-phone")
    problems.assert_clean()


def test_filter_narrows_the_fleet(stack: Stack, page: tuple[Page, PageProblems]) -> None:
    p, problems = page
    p.goto(f"{stack.base}/#token={stack.token}")
    expect(p.locator(".device")).to_have_count(BOARDS, timeout=15_000)
    p.fill("#filter", "sim-2")
    expect(p.locator(".device:visible")).to_have_count(1)
    expect(p.locator(".device:visible .device-id")).to_have_text("sim-2")
    p.fill("#filter", "no-such-board")
    expect(p.locator(".empty")).to_have_text("No device matches the filter.")
    problems.assert_clean()


def test_device_chart_draws_one_point_per_window_with_readings(
    stack: Stack, page: tuple[Page, PageProblems]
) -> None:
    p, problems = page
    p.goto(f"{stack.base}/#token={stack.token}")
    expect(p.locator(".device")).to_have_count(BOARDS, timeout=15_000)
    with p.expect_response(
        lambda r: "/series?metric=temperature" in r.url and "max_points=60" not in r.url
    ) as r:
        card(p, "sim-1").click()
    series = r.value.json()
    chart = p.locator('.chart[data-metric="temperature"]')
    expect(chart).to_have_attribute("data-points", str(len(series["points"])))

    # Independently: the raw readings, exported as CSV, fall into exactly these windows.
    every = series["every_ms"]
    raw = stack.api.get(
        "/api/v1/devices/sim-1/export.csv",
        params={"start": rfc3339(series["start_ms"]), "end": rfc3339(series["end_ms"])},
    )
    assert raw.status_code == 200, raw.text
    stamps = [
        int(row["ts_ms"]) for row in csv.DictReader(io.StringIO(raw.text)) if row["metric"] == "temperature"
    ]
    windows = {ts - ts % every for ts in stamps if ts < series["end_ms"]} if every else set(stamps)
    assert stamps and series["truncated"] is False
    assert [pt[0] for pt in series["points"]] == sorted(windows)
    drawn = p.evaluate("() => document.querySelector('.chart[data-metric=\"temperature\"] .uplot') !== null")
    assert drawn
    screenshot(p, "device-desktop")
    p.set_viewport_size(PHONE)
    screenshot(p, "device-phone")
    problems.assert_clean()


def test_range_picker_asks_for_that_range(stack: Stack, page: tuple[Page, PageProblems]) -> None:
    p, problems = page
    p.goto(f"{stack.base}/#token={stack.token}")
    p.goto(f"{stack.base}/#/device/sim-2")
    expect(p.locator(".chart").first).to_be_visible(timeout=15_000)
    with p.expect_response(lambda r: "/series?" in r.url and "start=-24h" in r.url) as r:
        p.click('[data-range="24h"]')
    assert r.value.status == 200
    expect(p.locator('[data-range="24h"]')).to_have_attribute("aria-pressed", "true")
    problems.assert_clean()


def test_ping_command_result_appears(stack: Stack, page: tuple[Page, PageProblems]) -> None:
    p, problems = page
    p.goto(f"{stack.base}/#token={stack.token}")
    p.goto(f"{stack.base}/#/device/sim-1")
    p.click('[data-op="ping"]')
    result = p.locator("#results li").first
    expect(result).to_have_class("ok", timeout=20_000)
    expect(result).to_contain_text("ping")
    problems.assert_clean()


def test_wrong_token_gets_a_clear_message(stack: Stack, browser: Browser) -> None:
    context = browser.new_context(viewport=DESKTOP)
    p = context.new_page()
    p.goto(f"{stack.base}/#token=sft_not-a-real-token")
    expect(p.locator("#login-error")).to_have_text("This token was not accepted.", timeout=10_000)
    expect(p.locator("#token-input")).to_be_visible()
    context.close()


def test_unreachable_server_gets_a_message_not_a_blank_page(stack: Stack, browser: Browser) -> None:
    context = browser.new_context(viewport=DESKTOP)
    p = context.new_page()
    p.goto(f"{stack.base}/#token={stack.token}")
    expect(p.locator(".device")).to_have_count(BOARDS, timeout=15_000)
    p.route("**/api/v1/**", lambda route: route.abort("connectionrefused"))
    p.reload()
    expect(p.locator("#banner")).to_contain_text("unreachable", timeout=10_000)
    expect(p.get_by_role("button", name="Try again")).to_be_visible()
    context.close()


def status_of(stack: Stack, device: str) -> dict[str, object]:
    found: dict[str, object] = stack.api.get(f"/api/v1/devices/{device}").json()["status"]
    return found


def test_device_view_shows_status_changes_from_before_it_opened(
    stack: Stack, page: tuple[Page, PageProblems]
) -> None:
    member = stack.fleet.boards[1]
    device, boot = member.device_id, status_of(stack, member.device_id)["boot"]
    assert isinstance(boot, int) and member.board.pid is not None
    os.kill(member.board.pid, signal.SIGKILL)
    member.board.stop()
    # Polled gently: the token's request rate is limited.
    wait_until(lambda: status_of(stack, device)["online"] is False, 3 * KEEPALIVE_S + 10, "offline", 0.5)
    member.board.start()
    wait_until(lambda: status_of(stack, device).get("boot") == boot + 1, 30, "back, booted again", 0.5)

    p, problems = page
    p.goto(f"{stack.base}/#token={stack.token}")
    p.goto(f"{stack.base}/#/device/{device}")
    entries = p.locator("#history li")
    expect(entries.first).to_have_attribute("data-changed", "online boot", timeout=15_000)
    expect(entries.first).to_contain_text(f"online · boot {boot + 1}")
    expect(entries.nth(1)).to_have_attribute("data-online", "false")
    expect(entries.nth(1)).to_contain_text("offline")
    # The board's first birth, recorded when the fleet started, is the oldest.
    expect(entries.last).to_contain_text(f"online · boot {boot}")
    # Statuses keep arriving live, the history's newest among them: none may be shown a second time.
    p.wait_for_timeout(1500)
    states = entries.evaluate_all("items => items.map((li) => li.dataset.online + '/' + li.dataset.boot)")
    assert all(a != b for a, b in pairwise(states)), states
    screenshot(p, "device-history-desktop")
    problems.assert_clean()


def test_stopped_board_turns_offline_within_its_keepalive(
    stack: Stack, page: tuple[Page, PageProblems]
) -> None:
    p, problems = page
    p.goto(f"{stack.base}/#token={stack.token}")
    last = stack.fleet.boards[-1]
    expect(card(p, last.device_id).locator(".state")).to_have_text("online", timeout=15_000)
    assert last.board.pid is not None
    os.kill(last.board.pid, signal.SIGKILL)  # no goodbye: the broker must notice and publish the last will
    last.board.stop()
    # MQTT: the broker drops a client after 1.5 × keepalive of silence; allow for delivery on top.
    expect(card(p, last.device_id).locator(".state")).to_have_text(
        "offline", timeout=(3 * KEEPALIVE_S + 10) * 1000
    )
    expect(p.locator(".offline-count")).to_have_text("1 offline")
    problems.assert_clean()


def test_a_status_change_arriving_live_is_added_to_the_history_once(
    stack: Stack, page: tuple[Page, PageProblems]
) -> None:
    """The entry comes from the registry with the status event: a repeat adds nothing."""
    device = "live-1"  # not a board of the fleet, so the other views keep their counts until here
    board = Recorder(stack.broker_port, client_id=device)
    try:
        board.publish(f"sf/{device}/status", b'{"online":true,"fw":"1.0.0","boot":1}')
        wait_until(lambda: stack.api.get(f"/api/v1/devices/{device}").status_code == 200, 15, "known")
        p, problems = page
        p.goto(f"{stack.base}/#token={stack.token}")
        # The server subscribes a stream before it answers: once the answer is in, no event is missed.
        with p.expect_response(lambda r: f"/api/v1/stream?device={device}" in r.url, timeout=15_000):
            p.goto(f"{stack.base}/#/device/{device}")
        entries = p.locator("#history li")
        expect(entries).to_have_count(1, timeout=15_000)
        board.publish(f"sf/{device}/status", b'{"online":true,"fw":"1.1.0","boot":1}')
        expect(entries.first).to_have_attribute("data-changed", "fw", timeout=15_000)
        expect(entries.first).to_contain_text("fw 1.1.0")
        board.publish(f"sf/{device}/status", b'{"online":true,"fw":"1.1.0","boot":1,"rssi":-40}')
        p.wait_for_timeout(1500)
        expect(entries).to_have_count(2)
        problems.assert_clean()
    finally:
        board.close()
