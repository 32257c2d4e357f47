"""The firmware page in a real Chromium against a real `sensorfleet serve` on a real Mosquitto: the
fleet's versions, a bundle, a rollout whose canary rolls back (its board's reason, markup included,
shown as text), halted by the engine, its devices, resumed and halted from the page; a read token is
told it needs an admin one."""

from __future__ import annotations

import base64

import orjson
from playwright.sync_api import Browser, expect

from ingest.api.tokens import Scope
from support.browser import DESKTOP, PageProblems, screenshot
from support.mosquitto import Mosquitto
from support.mqtt import Recorder
from support.procs import wait_until
from support.serve import ServeProcess

BOARDS = ["fw-a", "fw-b", "fw-c"]
CATCH = "window.__ran = []; window.__xss = (n) => window.__ran.push(n);"
GARBAGE = "<img src=x onerror=__xss(1)>crashed 3 times"


def status(client: Recorder, device: str, **fields: object) -> None:
    client.publish(f"sf/{device}/status", orjson.dumps({"online": True, **fields}), retain=True)


def test_a_rollout_halted_by_a_rollback_is_shown_resumed_and_halted(
    serve: ServeProcess, broker: Mosquitto, browser: Browser
) -> None:
    boards = Recorder(broker.port, client_id="fw-boards")
    try:
        for device in BOARDS:
            status(boards, device, fw="0.1.0")
        wait_until(lambda: len(serve.http.get("/api/v1/devices").json()["devices"]) >= 3, 15, "the boards")
        files = {"sensorfleet/app.py": base64.b64encode(b"print(2)\n").decode()}
        assert (
            serve.http.post("/api/v1/firmware", json={"version": "0.2.0", "files": files}).status_code == 201
        )
        body = {"version": "0.2.0", "devices": BOARDS, "canary": 1, "wave": "2", "health_s": 60}
        rollout = serve.http.post("/api/v1/rollouts", json=body).json()
        status(boards, "fw-a", fw="0.1.0", ota="rolled_back", ota_v="0.2.0", ota_reason=GARBAGE)
        wait_until(
            lambda: serve.http.get(f"/api/v1/rollouts/{rollout['id']}").json()["state"] == "halted",
            15,
            "the rollout halted by the canary's rollback",
        )

        context = browser.new_context(viewport=DESKTOP)
        context.add_init_script(CATCH)
        page = context.new_page()
        problems = PageProblems()
        problems.watch(page)
        page.goto(f"{serve.url}/#token={serve.token}")
        page.click('header a:text("Firmware")')
        expect(page.locator('#fleet-versions li[data-fw="0.1.0"]')).to_contain_text(
            "3 devices", timeout=15_000
        )
        expect(page.locator("#bundles")).to_contain_text("0.2.0")
        item = page.locator(f'.rollout[data-rollout="{rollout["id"]}"]')
        expect(item.locator(".badge")).to_have_text("halted")
        expect(item.locator(".rollout-reason")).to_contain_text(GARBAGE)
        expect(item.locator(".rollout-progress")).to_contain_text("1 rolled back")
        item.locator("button.toggle").click()
        rows = item.locator(".rollout-devices tbody tr")
        expect(rows).to_have_count(3)
        expect(rows.nth(0)).to_contain_text("canary")
        expect(rows.nth(0).locator(".reason")).to_have_text(GARBAGE)
        expect(rows.nth(1)).to_contain_text("pending")  # never offered: the rollout halted after the canary
        screenshot(page, "firmware-rollouts")

        item.locator("button.resume").click()
        expect(item.locator(".badge")).to_have_text("running")
        expect(rows.nth(0)).to_contain_text("skipped")
        item.locator("button.halt").click()
        expect(item.locator(".badge")).to_have_text("halted")
        assert serve.http.get(f"/api/v1/rollouts/{rollout['id']}").json()["state"] == "halted"
        assert page.locator("main img, main script").count() == 0 and page.evaluate("window.__ran") == []
        problems.assert_clean()
        context.close()

        read_token, _ = serve.tokens.create(Scope.READ, "firmware reader")
        context = browser.new_context(viewport=DESKTOP)
        page = context.new_page()
        problems = PageProblems(allowed=("status of 403", "/api/v1/firmware"))
        problems.watch(page)
        page.goto(f"{serve.url}/#token={read_token}")
        page.goto(f"{serve.url}/#/firmware")
        expect(page.locator("#firmware-note")).to_have_text("Firmware and rollouts need an admin token.")
        expect(page.locator(".rollout")).to_have_count(0)
        context.close()
    finally:
        boards.close()
