"""The fuzz suite of the edge (design.md §9): Hypothesis-generated payloads for every topic kind (status,
telemetry flat and batched, command results, firmware chunk requests) with extreme integers and floats,
long strings and control characters, deep nesting and many keys, published while a real board
publishes its readings through Mosquitto, with the shipped ACL (a hostile board on its own topics) and
without one (a careless integrator's broker: any topic of any device id but the board's own telemetry).

After each run: every reading of the board stored exactly once, the ingest still storing and ready,
no traceback, and the device list and every device page answering 200 within a second."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability.chain import Chain, chain

from ingest.codec.payload import STATUS_EXTRAS
from support.influx import InfluxDB
from support.mqtt import Recorder
from support.procs import wait_until

READINGS = 400
INT64 = 2**63
EDGES = [0, -1, INT64 - 1, INT64, -INT64, -INT64 - 1, 2**64 - 1, 2**64, 10**30]
INTS = st.sampled_from(EDGES) | st.integers()
FLOATS = st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from([1e308, -1e308, 5e-324])
TEXT = st.text(max_size=40) | st.sampled_from(
    ["", "\n", "x\n", "\x00\x07\x1b[31m", "<img src=x onerror=alert(1)>", "x" * 70_000, "é" * 300]
)
SCALAR = st.none() | st.booleans() | INTS | FLOATS | TEXT
VALUE = st.recursive(
    SCALAR, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3), max_leaves=8
)
METRIC = st.from_regex(r"[A-Za-z][A-Za-z0-9_.]{0,20}", fullmatch=True) | TEXT
STATUS_KEY = st.sampled_from(sorted(STATUS_EXTRAS | {"fw", "boot", "rssi"})) | TEXT


def status() -> st.SearchStrategy[Any]:
    extras = st.dictionaries(STATUS_KEY, VALUE, max_size=8)
    return st.builds(lambda online, rest: {"online": online, **rest}, SCALAR, extras)


def reading() -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(st.sampled_from(["ts", "age"]) | METRIC, SCALAR, max_size=6)


def batch() -> st.SearchStrategy[Any]:
    return st.builds(
        lambda boot, seq, readings: {"boot": boot, "seq": seq, "readings": readings},
        INTS, INTS, st.lists(reading(), max_size=4),
    )  # fmt: skip


def command_result() -> st.SearchStrategy[Any]:
    return st.builds(
        lambda cid, ok, result, error: {"id": cid, "ok": ok, "result": result, "error": error},
        TEXT | st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True), SCALAR, VALUE, TEXT,
    )  # fmt: skip


def shapes() -> st.SearchStrategy[bytes]:
    """Whole payloads no schema expects: deep nesting, many keys, not JSON at all."""
    return st.sampled_from(
        [
            b"[" * 5000 + b"]" * 5000,
            b'{"online":true,"x":' + b"[" * 900 + b"1" + b"]" * 900 + b"}",
            json.dumps({f"k{i}": i for i in range(5000)}).encode(),
            json.dumps({"readings": [{"v": 1}] * 20_000, "boot": 1, "seq": 0}).encode(),
            b'{"online":true,"boot":1e999}',
            b"\xff\xfe not utf-8",
            b"",
        ]
    )


def encode(doc: Any) -> bytes:
    try:
        return json.dumps(doc).encode()
    except (ValueError, TypeError):
        return repr(doc).encode()


def chunk_request() -> st.SearchStrategy[dict[str, Any]]:
    """A request for a firmware chunk: for versions and files that are, or are not, anybody's."""
    return st.builds(
        lambda v, path, off, rid, n: {"v": v, "file": path, "off": off, "id": rid, "n": n},
        st.sampled_from(["0.1.0", "0.2.0"]) | TEXT,
        st.sampled_from(["@manifest", "sensorfleet/app.mpy"]) | TEXT,
        SCALAR, SCALAR, SCALAR,
    )  # fmt: skip


SUFFIXES = {
    "status": status(),
    "telemetry": reading() | batch(),
    "cmd/result": command_result(),
    "ota/req": chunk_request(),
}


def messages(devices: st.SearchStrategy[str]) -> st.SearchStrategy[list[tuple[str, bytes, bool]]]:
    one = st.sampled_from(sorted(SUFFIXES)).flatmap(
        lambda suffix: st.tuples(
            devices.map(lambda d: f"sf/{d}/{suffix}"),
            st.one_of(SUFFIXES[suffix].map(encode), shapes()),
            st.booleans(),
        )
    )
    return st.lists(one, min_size=1, max_size=8)


@pytest.fixture(params=[True, False], ids=["with-acl", "no-acl"])
def site(
    request: pytest.FixtureRequest, tmp_path: Path, influxd: InfluxDB, influx_db: str
) -> Iterator[tuple[Chain, bool]]:
    with chain(tmp_path, influxd, influx_db, devices=2, acl=request.param) as c:
        yield c, request.param


def test_fuzzed_payloads_on_every_topic_kind_block_no_reading(site: tuple[Chain, bool]) -> None:
    c, locked = site
    # The sentinel below must not be refused for the cap on a device's metric names (tested elsewhere).
    ingest = c.start_ingest(SENSORFLEET_MAX_METRICS_PER_DEVICE="10000")
    board = c.add_board("dev-1", READINGS)
    board.start()
    evil = Recorder(c.broker.port, username="dev-2", password=c.passwords["dev-2"])
    # With the ACL the broker drops whatever dev-2 publishes on other devices' topics; without it, any id
    # but the board's own telemetry, whose readings the ledger must account for exactly.
    # (Mosquitto itself disconnects a client that puts a control character in a topic: `dev-x\n` is
    # tried on the embedded broker, which allows it, in tests/ingest/test_ingest_poison.py.)
    ids = st.just("dev-2") if locked else st.sampled_from(["dev-2", "dev-3", "Dev", "a" * 64, "é", "dev 4"])

    @settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(batch=messages(ids))
    def publish(batch: list[tuple[str, bytes, bool]]) -> None:
        for topic, payload, retain in batch:
            evil.publish(topic, payload, retain=retain and "/status" in topic)

    try:
        publish()
        if not locked:
            evil.publish("sf/dev-1/status", b'{"online":true,"fw":"<script>alert(1)</script>"}')
        # The broker keeps one client's messages in order, and so does the ingest: once this is stored,
        # everything published before it has been handled.
        evil.publish("sf/dev-2/telemetry", b'{"fuzz_sentinel":1.0}')
    finally:
        evil.close()
    wait_until(
        lambda: c.influx.query('SELECT "fuzz_sentinel" FROM "telemetry"', db=c.db) != [],
        120,
        "the sentinel behind the fuzzed messages stored",
    )
    board.wait_done(120)
    c.wait_drained(READINGS, 120)
    c.verify(others=True)
    ingest.assert_serving()
