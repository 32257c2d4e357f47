"""The dashboard with a large fleet in Debian's Chromium: 200 devices with 30 days of readings each.

Measures, over HTTP from a real uvicorn, time to the first render of the fleet view (200 cards), to
all its sparklines, to the device view's charts for a 30-day range, and the time uPlot takes to draw
a 10,000-point chart fetched from the API."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import httpx

from bench._http import served
from ingest.api.config import ApiSettings
from ingest.api.tokens import Scope, TokenStore
from ingest.app import build_app
from ingest.codec.payload import Status
from ingest.points import Point
from ingest.registry import Registry
from ingest.service import IngestService
from ingest.settings import load_settings
from ingest.state.migrate import open_state
from ingest.storage.sqlite import SqliteStore
from tests.support.browser import DESKTOP, chromium, wait_in_page

DEVICES = 200
DAYS = 30
STEP_MS = 15 * 60_000  # a reading every 15 minutes per device: 2,880 per device, 576,000 in all
DETAIL_STEP_MS = 60_000  # the device charted at 10,000 points has one a minute: 43,200 over 30 days
RUNS = 3

# Marks taken inside the page (ms since navigation start) as the DOM changes, so that the numbers are
# the page's own and not the driver's polling.
MARKS = """
window.__marks = {};
const count = (selector) => document.querySelectorAll(selector).length;
new MutationObserver(() => {
  const marks = window.__marks;
  const cards = count(".device");
  if (!marks.cards && cards) marks.cards = performance.now();
  if (!marks.sparks && cards && count(".spark .uplot") >= cards) marks.sparks = performance.now();
  if (!marks.charts && count(".chart .uplot") === 2) marks.charts = performance.now();
}).observe(document, { subtree: true, childList: true });
"""

DRAW_10K = """async ([device, start, every]) => {
  const { TimeChart } = await import("/charts.js");
  const token = localStorage.getItem("sensorfleet.token");
  const url = `/api/v1/devices/${device}/series?metric=temperature&start=${start}&every=${every}`;
  const series = await (await fetch(url, { headers: { Authorization: `Bearer ${token}` } })).json();
  const el = document.createElement("div");
  el.style.width = "1200px";
  document.body.append(el);
  const t0 = performance.now();
  const chart = new TimeChart(el, "temperature", series.points);
  const ms = performance.now() - t0;
  chart.destroy();
  el.remove();
  return [series.points.length, ms];
}"""


def _fill(workdir: Path, now_ms: int) -> tuple[SqliteStore, Registry]:
    store = SqliteStore(workdir / "telemetry.sqlite")
    registry = Registry(open_state(workdir))
    start = now_ms - DAYS * 86_400_000
    for d in range(DEVICES):
        device = f"dev-{d:03d}"
        step = DETAIL_STEP_MS if d == 0 else STEP_MS
        store.write(
            [
                Point(device, ts, {"temperature": 20 + (ts // step + d) % 50 / 10, "humidity": 40.0 + d % 20})
                for ts in range(start, now_ms, step)
            ]
        )
        registry.set_status(device, Status(online=d % 10 != 0, fw="0.1.0", boot=1, rssi=-60.0), now_ms)
    return store, registry


def run() -> list[dict[str, object]]:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        now_ms = int(time.time() * 1000)
        store, registry = _fill(workdir, now_ms)
        service = IngestService(load_settings(data_dir=workdir), store=store, registry=registry)
        secret = TokenStore(open_state(workdir)).create(Scope.READ, "bench")[0]
        app = build_app(service, ApiSettings(rate_per_s=100_000, rate_burst=100_000))
        fleet, sparks, device, draw, drawn, listing = [], [], [], [], 0, []
        try:
            with served(app) as base, chromium() as browser:
                auth = {"Authorization": f"Bearer {secret}"}
                for _ in range(RUNS):
                    t0 = time.perf_counter()
                    httpx.get(f"{base}/api/v1/devices", headers=auth, timeout=60).raise_for_status()
                    listing.append((time.perf_counter() - t0) * 1000)
                for _ in range(RUNS):
                    context = browser.new_context(viewport=DESKTOP)
                    context.add_init_script(MARKS)
                    page = context.new_page()
                    page.goto(f"{base}/#token={secret}")
                    wait_in_page(page, "() => window.__marks.sparks", 120, "the sparklines on screen")
                    fleet.append(page.evaluate("() => window.__marks.cards"))
                    sparks.append(page.evaluate("() => window.__marks.sparks"))
                    page.evaluate("localStorage.setItem('sensorfleet.range', '30d')")
                    # A fresh load of the device view, so its marks count from its own navigation.
                    page.goto(f"{base}/#/device/dev-000")
                    page.reload()
                    wait_in_page(page, "() => window.__marks.charts", 60, "the device charts")
                    device.append(page.evaluate("window.__marks.charts"))
                    drawn, ms = page.evaluate(
                        DRAW_10K, ["dev-000", f"-{DAYS}d", f"{DAYS * 86_400 // 10_000}s"]
                    )
                    draw.append(ms)
                    context.close()
        finally:
            store.close()
    med = statistics.median
    return [
        {
            "measure": f"GET /api/v1/devices ({DEVICES} devices, latest values)",
            "median_ms": round(med(listing)),
        },
        {
            "measure": f"fleet view ({DEVICES} devices): page load to the first card",
            "median_ms": round(med(fleet)),
        },
        {
            "measure": "fleet view: page load to a sparkline on every card on screen",
            "median_ms": round(med(sparks)),
        },
        {"measure": f"device view: page load to 2 charts of {DAYS} days", "median_ms": round(med(device))},
        {"measure": f"uPlot draws a {drawn}-point chart", "median_ms": round(med(draw), 1)},
    ]
