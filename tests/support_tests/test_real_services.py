"""Each real-service fixture works: the rest of the suite stands on these."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from support.influx import InfluxDB
from support.micropython import run_snippet
from support.mosquitto import Mosquitto, MosquittoOptions
from support.mqtt import Recorder, settle
from support.procs import wait_until


def test_mosquitto_delivers_qos1_publish_to_subscriber(mosquitto: Mosquitto) -> None:
    sub = Recorder(mosquitto.port, ["sf/+/telemetry"])
    pub = Recorder(mosquitto.port)
    pub.publish("sf/dev-1/telemetry", b'{"temperature":21.5}', qos=1)
    [msg] = sub.wait_for(1)
    assert (msg.topic, msg.payload, msg.qos) == ("sf/dev-1/telemetry", b'{"temperature":21.5}', 1)
    pub.close()
    sub.close()


def test_mosquitto_password_file_and_acl_are_enforced(mosquitto_factory: Callable[..., Mosquitto]) -> None:
    broker = mosquitto_factory(
        MosquittoOptions(
            users={"dev-1": "pw1", "reader": "pw2"},
            acl="user reader\ntopic read sf/#\n\npattern write sf/%u/telemetry\n",
        )
    )
    reader = Recorder(broker.port, ["sf/#"], username="reader", password="pw2")
    device = Recorder(broker.port, username="dev-1", password="pw1")
    device.publish("sf/dev-1/telemetry", b"own")
    device.publish("sf/dev-2/telemetry", b"impersonated")  # the broker acks, then drops it
    reader.wait_for(1)
    settle(0.5)
    assert [m.payload for m in reader.snapshot()] == [b"own"]

    refused = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    refused.username_pw_set("dev-1", "wrong")
    results: list[object] = []
    refused.on_connect = lambda c, u, f, rc, p: results.append(rc)
    refused.connect("127.0.0.1", broker.port)
    deadline = time.monotonic() + 5
    while not results and time.monotonic() < deadline:
        refused.loop(0.1)
    assert results and str(results[0]) in {"Not authorized", "Bad user name or password"}
    device.close()
    reader.close()


def test_mosquitto_persistence_keeps_retained_message_across_restart(
    mosquitto_factory: Callable[..., Mosquitto],
) -> None:
    broker = mosquitto_factory(MosquittoOptions(persistence=True))
    pub = Recorder(broker.port)
    pub.publish("sf/dev-1/status", b'{"online":true}', retain=True)
    pub.close()
    broker.restart()
    sub = Recorder(broker.port, ["sf/+/status"])
    [msg] = sub.wait_for(1)
    assert msg.retain and msg.payload == b'{"online":true}'
    sub.close()


def test_influxdb_write_and_read_back(influxd: InfluxDB, influx_db: str) -> None:
    influxd.write(influx_db, "telemetry,device=dev-1 temperature=21.5,seq=7i 1764000000123")
    [series] = influxd.query('SELECT * FROM "telemetry"', db=influx_db)
    row = dict(zip(series["columns"], series["values"][0], strict=True))
    assert row == {"time": 1764000000123, "device": "dev-1", "temperature": 21.5, "seq": 7}


def test_influxdb_databases_are_isolated(influxd: InfluxDB, influx_db: str) -> None:
    assert influxd.query('SELECT * FROM "telemetry"', db=influx_db) == []


def test_influxdb_data_options_apply_and_cache_bytes_follows_the_snapshot(tmp_path: Path) -> None:
    server = InfluxDB(tmp_path / "influxdb", {"cache-snapshot-write-cold-duration": '"1s"'})
    server.start()
    try:
        server.create_database("db1")
        server.write(
            "db1", "\n".join(f"telemetry,device=dev-1 v={i}.5 {1764000000000 + i}" for i in range(100))
        )
        assert server.cache_bytes("db1") > 0
        wait_until(lambda: server.cache_bytes("db1") == 0, 30, "the cache snapshot")
        assert list((tmp_path / "influxdb" / "data" / "db1").rglob("*.tsm"))
        assert server.count("db1", "telemetry", "v") == 100
    finally:
        server.close()


def test_micropython_runs_under_128k_heap() -> None:
    out = run_snippet("import gc, sys; gc.collect(); print(sys.implementation.name, gc.mem_free() < 131072)")
    assert out.split() == ["micropython", "True"]


def test_micropython_heap_cap_is_real() -> None:
    with pytest.raises(RuntimeError, match="MemoryError"):
        run_snippet("b = bytearray(200 * 1024)")
