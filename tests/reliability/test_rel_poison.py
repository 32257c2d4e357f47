"""A provisioned board turned hostile, on the recommended set-up (Mosquitto with the shipped ACL, InfluxDB):
each message that used to stall the whole ingest, break the device list or grow the registry without
bound, sent while a real board publishes. Every reading of the real board is stored exactly once, the
bad messages are dead letters with their reason, and the service stays ready, also across a restart
(the broker redelivers the retained poison)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from reliability.chain import Chain, Ingest, chain

from ingest.state.database import STATE_FILE
from support.influx import InfluxDB
from support.mqtt import Recorder
from support.procs import wait_until

READINGS = 300
POISON_STATUS = b'{"online":true,"fw":"0.1.0","boot":9223372036854775808}'
SEQ_OVERFLOW = b'{"boot":3,"seq":9223372036854775807,"readings":[{"t":1.0},{"t":2.0}]}'
XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture
def site(tmp_path: Path, influxd: InfluxDB, influx_db: str) -> Iterator[Chain]:
    with chain(tmp_path, influxd, influx_db, devices=2) as c:
        yield c


def test_poison_from_a_provisioned_board_blocks_nothing_and_is_dead_lettered(site: Chain) -> None:
    c = site
    ingest = c.start_ingest()
    board = c.add_board("dev-1", READINGS)
    board.start()
    evil = Recorder(c.broker.port, username="dev-2", password=c.passwords["dev-2"])
    try:
        evil.publish("sf/dev-2/status", POISON_STATUS, retain=True)
        evil.publish("sf/dev-2/telemetry", SEQ_OVERFLOW)
        evil.publish("sf/dev-2/status", json.dumps({"online": True, "outbox": XSS, "dropped": XSS}))
        evil.publish("sf/dev-2/status", json.dumps({"online": True, "fw": "1.0", "blob": "x" * 250_000}))
        evil.publish("sf/dev-2/telemetry", json.dumps({f"m{i:03d}_{'n' * 55}": 1.0 for i in range(500)}))
        evil.publish("sf/dev-2/telemetry", json.dumps({"temp\n": 1.0}))
        for i in range(200):
            evil.publish(
                "sf/dev-2/cmd/result", json.dumps({"id": f"c{i}", "ok": True, "result": "x" * 200_000})
            )
        for i in range(150):
            evil.publish("sf/dev-2/cmd/result", json.dumps({"id": f"small{i}", "ok": True}))
    finally:
        evil.close()
    board.wait_done(90)
    c.wait_drained(READINGS, 90)
    c.verify()
    ingest.assert_serving()

    reasons = [reason for _, reason, _ in ingest_dead_letters(ingest)]
    assert any("boot" in r and "9223372036854775807" in r for r in reasons), reasons[:5]
    assert any("signed 64-bit" in r for r in reasons), reasons[:5]
    assert any("outbox" in r for r in reasons), reasons[:5]
    assert any("more than 64 metrics" in r for r in reasons), reasons[:5]
    assert any("invalid metric name 'temp\\n'" in r for r in reasons), reasons[:5]
    assert sum("exceeds 4096" in r for r in reasons) == 200

    dev2 = ingest.http.get("/api/v1/devices/dev-2").json()
    assert dev2["fw"] == "1.0" and "blob" not in dev2["status"]  # unknown status keys are dropped
    assert ingest.metrics()["sensorfleet_status_keys_dropped_total"] >= 1
    with sqlite3.connect(ingest.data_dir / STATE_FILE) as db:
        kept = db.execute("SELECT command_id FROM command_results WHERE device = 'dev-2'").fetchall()
    assert sorted(k for (k,) in kept) == sorted(f"small{i}" for i in range(50, 150))

    # The broker redelivers the retained poison to the restarted ingest: dead-lettered again, no stall.
    letters = len(ingest_dead_letters(ingest))
    ingest.stop()
    ingest.start()
    wait_until(lambda: len(ingest_dead_letters(ingest)) > letters, 30, "the retained poison dead-lettered")
    board.start()  # its next boot
    board.wait_done(90)
    c.wait_drained(2 * READINGS, 90)
    c.verify()
    ingest.assert_serving()


def ingest_dead_letters(ingest: Ingest) -> list[tuple[str, str, bytes]]:
    with sqlite3.connect(ingest.data_dir / STATE_FILE) as db:
        rows = db.execute("SELECT topic, reason, payload FROM dead_letters ORDER BY id").fetchall()
    return [(t, r, bytes(p)) for t, r, p in rows]
