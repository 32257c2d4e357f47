"""Hostile input on the wire and at the API while a real board publishes: a fixed corpus of
line-protocol and InfluxQL injections plus Hypothesis-generated payloads in every field a device or an
API client controls. Nothing crashes, nothing foreign reaches InfluxDB, and the board's readings all
arrive exactly once."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability.chain import Chain, chain

from ingest.api.tokens import Scope
from support.influx import InfluxDB
from support.mqtt import Recorder
from support.procs import wait_until

READINGS = 600
INJECTIONS = [
    "temperature,device=evil value=1",
    "x value=1 1\nevil,device=dev-1 forged=1",
    'a" OR 1=1 --',
    "'; DROP MEASUREMENT telemetry; --",
    '"; DROP DATABASE "x',
    "telemetry,device=dev-2",
    "x\\",
    "x\\ y",
    "x=1",
    "a,b",
    "a b",
    "time",
    "device",
    "",
    " ",
    "\x00",
    "\r\n",
    "évil",
    "a" * 70,
    "/* */ SELECT * FROM telemetry",
    "$share/g/sf/#",
    "../dev-2",
]
"""Invalid as metric names, device ids or values; each must be refused, never spliced anywhere."""

# Keys that can never be a metric name, so every generated reading must be dead-lettered.
_BAD_KEY = st.builds(
    lambda head, bad, tail: head + bad + tail,
    st.text(max_size=8),
    st.sampled_from(list(' ,="\\\n\t\x00/#+-')),
    st.text(max_size=8),
)
_JSON = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=10,
)


@pytest.fixture
def site(tmp_path: Path, influxd: InfluxDB, influx_db: str) -> Iterator[Chain]:
    with chain(tmp_path, influxd, influx_db, devices=2) as c:
        yield c


def corpus(now_ms: int) -> list[tuple[str, bytes]]:
    """(topic suffix, payload) for dev-2: every injection in every field it controls."""
    out: list[tuple[str, bytes]] = []
    for s in INJECTIONS:
        out += [
            ("telemetry", json.dumps({"ts": now_ms, s: 1.0}).encode()),
            ("telemetry", json.dumps({"ts": now_ms, "temperature": s}).encode()),
            ("telemetry", json.dumps({"boot": s, "seq": 0, "readings": [{"ts": now_ms, "v": 1}]}).encode()),
            ("telemetry", json.dumps({"boot": 1, "seq": 0, "readings": [{"ts": s, s: s}]}).encode()),
            ("telemetry", s.encode()),
        ]
    return out


def test_hostile_device_payloads_store_nothing_foreign(site: Chain) -> None:
    c = site
    ingest = c.start_ingest()
    board = c.add_board("dev-1", READINGS)
    board.start()
    hostile = Recorder(c.broker.port, username="dev-2", password=c.passwords["dev-2"])
    sent = 0
    try:
        now_ms = int(time.time() * 1000)
        for suffix, payload in corpus(now_ms):
            hostile.publish(f"sf/dev-2/{suffix}", payload)
            sent += 1

        @settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(st.dictionaries(_BAD_KEY, _JSON, min_size=1, max_size=5), st.binary(max_size=200))
        def publish_generated(reading: dict[str, Any], raw: bytes) -> None:
            nonlocal sent
            hostile.publish("sf/dev-2/telemetry", json.dumps({"ts": now_ms, **reading}).encode())
            hostile.publish("sf/dev-2/telemetry", raw)
            sent += 2

        publish_generated()
        # Status and command results are kept in the registry, never in InfluxDB.
        for s in INJECTIONS:
            hostile.publish(
                "sf/dev-2/status", json.dumps({"online": True, "fw": s, "reset_cause": s}).encode()
            )
            hostile.publish("sf/dev-2/cmd/result", json.dumps({"id": s, "ok": False, "error": s}).encode())
    finally:
        hostile.close()
    board.wait_done(60)
    c.wait_drained(READINGS, 60)
    wait_until(
        lambda: ingest.metrics()["sensorfleet_dead_letters_total"] >= sent,
        60,
        "every hostile message handled",
    )
    assert ingest.process.running() and "Traceback" not in ingest.process.output()
    c.verify()
    assert_nothing_foreign(c)


def assert_nothing_foreign(c: Chain) -> None:
    assert c.influx.query("SHOW MEASUREMENTS", db=c.db)[0]["values"] == [["telemetry"]]
    assert c.influx.query("SHOW SERIES", db=c.db)[0]["values"] == [["telemetry,device=dev-1"]]
    fields = {name for name, _ in c.influx.query('SHOW FIELD KEYS FROM "telemetry"', db=c.db)[0]["values"]}
    assert fields == {"temperature", "humidity", "seq"}
    databases = {row[0] for row in c.influx.query("SHOW DATABASES")[0]["values"]}
    assert c.db in databases


API_PATHS = [
    "/api/v1/devices/{inj}",
    "/api/v1/devices/{inj}/latest",
    "/api/v1/devices/{inj}/series?metric=temperature",
    "/api/v1/devices/dev-1/series?metric={inj}",
    "/api/v1/devices/dev-1/series?metric=temperature&start={inj}",
    "/api/v1/devices/dev-1/series?metric=temperature&end={inj}",
    "/api/v1/devices/dev-1/series?metric=temperature&agg={inj}",
    "/api/v1/devices/dev-1/series?metric=temperature&every={inj}",
    "/api/v1/devices/dev-1/series?metric=temperature&max_points={inj}",
    "/api/v1/devices/{inj}/export.csv",
    "/api/v1/devices/dev-1/export.csv?start={inj}",
]


def test_hostile_and_abusive_api_clients_are_refused_and_change_nothing(site: Chain) -> None:
    c = site
    ingest = c.start_ingest(SENSORFLEET_API_RATE_BURST="1000", SENSORFLEET_API_RATE_PER_S="1000")
    board = c.add_board("dev-1", READINGS)
    board.start()
    api = ingest.http
    auth = bearer(ingest.token)
    for template in API_PATHS:
        for s in INJECTIONS:
            r = api.get(template.format(inj=quote(s, safe="")), headers=auth)
            assert r.status_code in (200, 404, 422), (template, s, r.status_code, r.text)
    for s in INJECTIONS:
        body = {"op": "ping", "id": s, "args": {s: s}}
        r = api.post("/api/v1/devices/dev-1/commands", json=body, headers=auth)
        assert r.status_code in (200, 201, 202, 422), (s, r.status_code, r.text)
        r = api.post(f"/api/v1/devices/{quote(s, safe='')}/commands", json={"op": s}, headers=auth)
        assert r.status_code in (404, 405, 422), (s, r.status_code, r.text)
    board.wait_done(60)
    c.wait_drained(READINGS, 60)
    assert ingest.process.running() and "Traceback" not in ingest.process.output()
    c.verify()
    assert_nothing_foreign(c)


def test_api_abuse_is_refused_while_the_readings_keep_arriving(site: Chain) -> None:
    c = site
    ingest = c.start_ingest()
    board = c.add_board("dev-1", READINGS)
    board.start()
    api = httpx.Client(base_url=ingest.url, timeout=10)  # no token unless a request names one
    devices = "/api/v1/devices"
    assert api.get(devices).status_code == 401
    assert api.get(devices, headers=bearer("sft_" + "x" * 43)).status_code == 401
    reader, _ = ingest.tokens.create(Scope.READ, "reader")
    refused = api.post(f"{devices}/dev-1/commands", json={"op": "ping"}, headers=bearer(reader))
    assert refused.status_code == 403
    revoked, token = ingest.tokens.create(Scope.ADMIN, "revoked")
    assert api.get(devices, headers=bearer(revoked)).status_code == 200
    assert ingest.tokens.revoke(token.id)
    assert api.get(devices, headers=bearer(revoked)).status_code == 401
    # A burst far beyond the token's allowance: refused with Retry-After, and the service stays up.
    burst, _ = ingest.tokens.create(Scope.READ, "burst")
    codes = [api.get(f"{devices}/dev-1/latest", headers=bearer(burst)) for _ in range(300)]
    limited = [r for r in codes if r.status_code == 429]
    assert limited and all(int(r.headers["Retry-After"]) >= 1 for r in limited)
    assert {r.status_code for r in codes} <= {200, 429}
    # Oversized requests: a huge body, a huge query string, a huge header.
    admin = bearer(ingest.token)
    huge = {"op": "set", "args": {f"k{i}": "x" * 1000 for i in range(2000)}}
    r = api.post(f"{devices}/dev-1/commands", json=huge, headers=admin)
    assert r.status_code in (413, 422), r.status_code
    r = api.get(f"{devices}/dev-1/series", params={"metric": "t" * 60_000}, headers=admin)
    assert r.status_code in (414, 422, 431), r.status_code
    try:
        status: int | None = api.get(devices, headers={**admin, "X-Pad": "x" * 1_000_000}).status_code
    except httpx.HTTPError:  # or the server just closes the connection
        status = None
    assert status in (None, 400, 431), status
    api.close()
    board.wait_done(60)
    c.wait_drained(READINGS, 60)
    assert ingest.process.running() and "Traceback" not in ingest.process.output()
    c.verify()


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}
