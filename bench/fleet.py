"""The fleet view at scale: 2,000 and 20,000 devices with 5 metrics each, in a real registry and store.

`GET /api/v1/devices` over HTTP from a real uvicorn, on SQLite and on InfluxDB 1.x: a page of the
default size (100) and of the largest (500) at the start, middle and end of the id order (p50 and max
over a few rounds), and a walk of every page of 500. Then, in Debian's Chromium, the fleet view on the
SQLite-backed API: page load to the first card, to the whole fleet counted and read, and a scroll to
the end until the last device's card is drawn; with the number of cards the page made meanwhile.

Targets: every page in ≤ 1 s on both stores at 20,000 devices; the first card in ≤ 1 s at 2,000 devices,
and the view usable at 20,000 (first card, count of the whole fleet, the end reachable)."""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import update

from bench._http import served
from ingest.api.config import ApiSettings
from ingest.api.tokens import Scope, TokenStore
from ingest.app import build_app
from ingest.codec.payload import Telemetry
from ingest.points import Point
from ingest.registry import Registry
from ingest.service import IngestService
from ingest.settings import load_settings
from ingest.state.migrate import open_state
from ingest.state.schema import devices
from ingest.storage.base import Store
from ingest.storage.influx import InfluxStore
from ingest.storage.influx_http import InfluxHttp
from ingest.storage.sqlite import SqliteStore
from tests.support.browser import DESKTOP, chromium, wait_in_page
from tests.support.influx import InfluxDB

SIZES = (2_000, 20_000)
METRICS = ("temperature", "humidity", "pressure", "battery", "signal")
READINGS = 3
"""Per device, a minute apart; the newest carries all five metrics but `battery`, which only the first
one has, so every page also reads a value older than its device's newest reading."""
ROUNDS = 5
WALKS = 2
BROWSER_RUNS = 3
PAGE_TARGET_MS = 1000
FIRST_CARD_TARGET_MS = 1000


def device_id(n: int) -> str:
    return f"dev-{n:05d}"


def readings(n: int, now_ms: int) -> list[Point]:
    device = device_id(n)
    out = []
    for k in range(READINGS):
        fields: dict[str, float | bool] = {m: float(n % 97 + k + i) for i, m in enumerate(METRICS)}
        if k:
            del fields["battery"]
        out.append(Point(device, now_ms - (READINGS - k) * 60_000, fields))
    return out


def newest(n: int) -> dict[str, float]:
    """What the API must answer as the device's latest values."""
    values = {m: float(n % 97 + READINGS - 1 + i) for i, m in enumerate(METRICS)}
    values["battery"] = float(n % 97 + METRICS.index("battery"))
    return values


def fill_registry(workdir: Path, count: int, now_ms: int) -> Registry:
    """Counted as the writer counts telemetry (so each device has its metric names and completeness);
    statuses set in one statement (a status each through the registry costs a transaction each)."""
    registry = Registry(open_state(workdir))
    for start in range(0, count, 500):
        batch = [
            (Telemetry(device_id(n), tuple(readings(n, now_ms)), boot=1, seq=0), now_ms)
            for n in range(start, min(count, start + 500))
        ]
        registry.record(batch)
    with registry.state.write() as db:
        db.execute(
            update(devices).values(
                online=True, fw="1.4.2", rssi=-61.0, boot=1, status='{"online":true,"outbox":0,"dropped":0}'
            )
        )
        db.execute(update(devices).where(devices.c.id.like("%0")).values(online=False))
    return registry


def fill_store(store: Store, count: int, now_ms: int) -> None:
    points: list[Point] = []
    for n in range(count):
        points.extend(readings(n, now_ms))
        if len(points) >= 6000:
            store.write(points)
            points = []
    store.write(points)


def measure_api(base: str, secret: str, count: int) -> dict[str, Any]:
    """Page latencies (ms) by page size, and walk times (ms); every answer checked."""
    at = {"start": "", "middle": device_id(count // 2), "end": device_id(count - 101)}
    pages: dict[int, list[float]] = {100: [], 500: []}
    walks: list[float] = []
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {secret}"}, timeout=120) as http:
        http.get("/api/v1/devices", params={"limit": 100}).raise_for_status()  # warm-up
        for _ in range(ROUNDS):
            for limit, times in pages.items():
                for after in at.values():
                    began = time.perf_counter()
                    r = http.get("/api/v1/devices", params={"limit": limit, "after": after})
                    times.append((time.perf_counter() - began) * 1000)
                    check(r, count, limit)
        for _ in range(WALKS):
            seen: list[str] = []
            after = ""
            took = 0.0  # the requests' time, not the checks'
            while True:
                began = time.perf_counter()
                r = http.get("/api/v1/devices", params={"limit": 500, "after": after})
                took += time.perf_counter() - began
                body = check(r, count, 500)
                seen += [d["id"] for d in body["devices"]]
                if body["next"] is None:
                    break
                after = body["next"]
            walks.append(took * 1000)
            if seen != [device_id(n) for n in range(count)]:
                raise RuntimeError("the walk did not give every device once, in order")
    return {"pages": pages, "walks": walks}


def check(r: httpx.Response, count: int, limit: int) -> dict[str, Any]:
    r.raise_for_status()
    body: dict[str, Any] = r.json()
    if body.get("total") != count or not 0 < len(body["devices"]) <= limit:
        raise RuntimeError(f"unexpected page: total {body.get('total')}, {len(body['devices'])} devices")
    for d in body["devices"]:
        if d["latest"]["values"] != newest(int(d["id"].removeprefix("dev-"))):
            raise RuntimeError(f"wrong latest values for {d['id']}: {d['latest']['values']}")
    return body


# Marks taken inside the page (ms since navigation start) as the DOM changes.
MARKS = """
window.__marks = {};
new MutationObserver(() => {
  const marks = window.__marks;
  if (!marks.card && document.querySelector(".device")) {
    marks.card = performance.now();
    marks.cardsAtFirst = document.querySelectorAll(".device").length;
  }
  const counts = document.getElementById("counts")?.textContent ?? "";
  if (!marks.counted && counts.startsWith("%(n)d devices")) marks.counted = performance.now();
  if (!marks.read && counts.includes("%(online)d online")) marks.read = performance.now();
}).observe(document, { subtree: true, childList: true, characterData: true });
"""

SCROLL_TO_END = """async (last) => {
  const t0 = performance.now();
  const selector = `.device[data-device="${last}"]`;
  while (!document.querySelector(selector)) {
    window.scrollTo(0, document.documentElement.scrollHeight);
    await new Promise((resolve) => requestAnimationFrame(resolve));
    if (performance.now() - t0 > 60000) throw new Error("the last card never came");
  }
  return [performance.now() - t0, document.querySelectorAll(".device").length];
}"""


def measure_browser(base: str, secret: str, count: int) -> dict[str, list[float]]:
    online = count - count // 10
    out: dict[str, list[float]] = {
        "card": [],
        "cards": [],
        "counted": [],
        "read": [],
        "end": [],
        "cards_end": [],
    }
    with chromium() as browser:
        for _ in range(BROWSER_RUNS):
            context = browser.new_context(viewport=DESKTOP)
            context.add_init_script(MARKS % {"n": count, "online": online})
            page = context.new_page()
            page.goto(f"{base}/#token={secret}")
            wait_in_page(page, "() => window.__marks.read", 180, f"the fleet view reading {count} devices")
            marks = page.evaluate("() => window.__marks")
            out["card"].append(marks["card"])
            out["cards"].append(marks["cardsAtFirst"])
            out["counted"].append(marks["counted"])
            out["read"].append(marks["read"])
            took, cards = page.evaluate(SCROLL_TO_END, device_id(count - 1))
            out["end"].append(took)
            out["cards_end"].append(cards)
            context.close()
    return out


def served_api(workdir: Path, store: Store, registry: Registry, then: Callable[[str, str], Any]) -> Any:
    service = IngestService(load_settings(data_dir=workdir), store=store, registry=registry)
    secret = TokenStore(open_state(workdir)).create(Scope.READ, "bench")[0]
    app = build_app(service, ApiSettings(rate_per_s=100_000, rate_burst=100_000))
    with served(app) as base:
        return then(base, secret)


def run() -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    now_ms = int(time.time() * 1000)
    for count in SIZES:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            registry = fill_registry(work / "state", count, now_ms)
            sqlite = SqliteStore(work / "telemetry.sqlite")
            fill_store(sqlite, count, now_ms)

            def both(base: str, secret: str, count: int = count) -> tuple[dict[str, Any], dict[str, Any]]:
                return measure_api(base, secret, count), measure_browser(base, secret, count)

            api, browser = served_api(work / "state", sqlite, registry, both)
            sqlite.close()
            rows += api_rows("sqlite", count, api)
            influxd = InfluxDB(work / "influxdb")
            influxd.start()
            try:
                influxd.create_database("bench")
                influx = InfluxStore(InfluxHttp(influxd.url, "bench"))
                fill_store(influx, count, now_ms)
                api = served_api(
                    work / "state",
                    influx,
                    registry,
                    lambda base, secret, count=count: measure_api(base, secret, count),
                )
                influx.close()
            finally:
                influxd.close()
            rows += api_rows("influxdb 1.x", count, api)
            rows += browser_rows(count, browser)
            registry.state.close()
    return rows


def row(
    measure: str, store: str, count: int, target: str, values: list[float], met: bool | None
) -> dict[str, object]:
    return {
        "measure": measure,
        "store": store,
        "devices": count,
        "target": target,
        "p50 ms": round(statistics.median(values)),
        "max ms": round(max(values)),
        "n": len(values),
        "met": "—" if met is None else "yes" if met else "NO",
    }


def api_rows(store: str, count: int, api: dict[str, Any]) -> list[dict[str, object]]:
    rows = [
        row(
            f"GET /devices, page of {limit}",
            store,
            count,
            f"≤ {PAGE_TARGET_MS} ms",
            times,
            max(times) <= PAGE_TARGET_MS,
        )
        for limit, times in api["pages"].items()
    ]
    rows.append(row("GET /devices, every page of 500", store, count, "", api["walks"], None))
    return rows


def median_cards(counts: list[float]) -> int:
    return round(statistics.median(counts))


def browser_rows(count: int, b: dict[str, list[float]]) -> list[dict[str, object]]:
    first_target = count <= SIZES[0]
    made = f"{median_cards(b['cards'])} cards"
    return [
        row(
            f"Chromium: load to first card ({made})",
            "sqlite",
            count,
            f"≤ {FIRST_CARD_TARGET_MS} ms" if first_target else "usable",
            b["card"],
            max(b["card"]) <= FIRST_CARD_TARGET_MS if first_target else None,
        ),
        row("Chromium: load to the whole fleet counted", "sqlite", count, "", b["counted"], None),
        row("Chromium: load to every page read", "sqlite", count, "", b["read"], None),
        row(
            f"Chromium: scroll to the end, last card drawn ({median_cards(b['cards_end'])} cards)",
            "sqlite",
            count,
            "",
            b["end"],
            None,
        ),
    ]
