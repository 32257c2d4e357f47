"""The generated password file and ACL, enforced by a real Mosquitto 2.0."""

from __future__ import annotations

import base64
import hashlib
import signal
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from provision_kit import Fleet, connect_code, provision, provisioned_fleet

from ingest.provision.ids import INGEST_USERNAME
from support.mosquitto import Mosquitto
from support.mqtt import Recorder, settle
from support.procs import wait_until
from support.serve import ServeProcess


@pytest.fixture
def fleet(tmp_path: Path, mosquitto_factory: Callable[..., Mosquitto]) -> Fleet:
    return provisioned_fleet(tmp_path / "data", mosquitto_factory, "dev-a", "dev-b")


def test_a_device_cannot_publish_as_another(fleet: Fleet) -> None:
    broker, pw, _ = fleet
    ingest = Recorder(broker.port, ["sf/#"], username=INGEST_USERNAME, password=pw[INGEST_USERNAME])
    a = Recorder(broker.port, username="dev-a", password=pw["dev-a"])
    b = Recorder(broker.port, username="dev-b", password=pw["dev-b"])
    try:
        a.publish("sf/dev-a/telemetry", b'{"temperature":1}')
        b.publish("sf/dev-a/telemetry", b'{"temperature":666}')  # forged: dropped by the ACL
        b.publish("sf/dev-b/cmd/result", b'{"id":"c1","ok":true}')
        b.publish("sf/dev-b/telemetry", b'{"temperature":2}')
        received = ingest.wait_for(3)
        # B's later messages arrived (same connection, in order), so the forged one was refused.
        assert [(m.topic, m.payload) for m in received] == [
            ("sf/dev-a/telemetry", b'{"temperature":1}'),
            ("sf/dev-b/cmd/result", b'{"id":"c1","ok":true}'),
            ("sf/dev-b/telemetry", b'{"temperature":2}'),
        ]
    finally:
        for client in (ingest, a, b):
            client.close()


def test_a_device_reads_only_its_own_commands(fleet: Fleet) -> None:
    broker, pw, _ = fleet
    ingest = Recorder(broker.port, username=INGEST_USERNAME, password=pw[INGEST_USERNAME])
    b = Recorder(broker.port, username="dev-b", password=pw["dev-b"])
    # Mosquitto's acl_file grants any subscription and checks read access per message delivered.
    a = Recorder(broker.port, ["sf/#"], username="dev-a", password=pw["dev-a"])
    try:
        b.publish("sf/dev-b/telemetry", b'{"temperature":2}')
        a.publish("sf/dev-a/cmd", b'{"id":"self","op":"reboot"}')  # not even to itself
        ingest.publish("sf/dev-b/cmd", b'{"id":"c0","op":"ping"}')
        ingest.publish("sf/dev-a/cmd", b'{"id":"c1","op":"ping"}')
        a.wait_for(1)
        settle()
        assert [(m.topic, m.payload) for m in a.snapshot()] == [("sf/dev-a/cmd", b'{"id":"c1","op":"ping"}')]
    finally:
        for client in (ingest, a, b):
            client.close()


def test_the_ingest_cannot_forge_telemetry(fleet: Fleet) -> None:
    broker, pw, _ = fleet
    watcher = Recorder(
        broker.port, ["sf/+/telemetry"], username=INGEST_USERNAME, password=pw[INGEST_USERNAME]
    )
    device = Recorder(broker.port, ["sf/dev-a/cmd"], username="dev-a", password=pw["dev-a"])
    ingest = Recorder(broker.port, username=INGEST_USERNAME, password=pw[INGEST_USERNAME])
    try:
        ingest.publish("sf/dev-a/telemetry", b"{}")
        ingest.publish("sf/dev-a/cmd", b'{"id":"c2","op":"flush"}')
        assert [m.topic for m in device.wait_for(1)] == ["sf/dev-a/cmd"]
        settle()
        assert watcher.snapshot() == []
    finally:
        for client in (watcher, device, ingest):
            client.close()


def test_wrong_unknown_and_anonymous_logins_are_refused(
    fleet: Fleet,
) -> None:
    broker, pw, _ = fleet
    not_authorized = 135  # paho maps MQTT 3.1.1 CONNACK 5 to the v5 reason code 135
    assert connect_code(broker.port, "dev-a", pw["dev-a"]) == 0
    assert connect_code(broker.port, "dev-a", pw["dev-b"]) == not_authorized
    assert connect_code(broker.port, "dev-a", pw["dev-a"] + "x") == not_authorized
    assert connect_code(broker.port, "dev-c", pw["dev-a"]) == not_authorized
    assert connect_code(broker.port, None, None) == not_authorized


def test_a_device_added_later_logs_in_after_a_reload(fleet: Fleet) -> None:
    broker, _, data_dir = fleet
    passwords, _ = provision(data_dir, "dev-c")
    assert connect_code(broker.port, "dev-c", passwords["dev-c"]) == 135
    broker.process.signal(signal.SIGHUP)
    wait_until(lambda: connect_code(broker.port, "dev-c", passwords["dev-c"]) == 0, 10, "the reloaded login")


def test_a_board_pulls_only_the_firmware_a_rollout_offered_it(fleet: Fleet, tmp_path: Path) -> None:
    """The real ingest's chunk server and rollout engine behind the generated ACL: dev-a, in a rollout,
    is offered the update and gets the manifest; dev-b asking for the same version is refused (status
    1), cannot ask in dev-a's name, and never sees dev-a's chunks."""
    broker, pw, _ = fleet
    a = Recorder(broker.port, ["sf/dev-a/cmd", "sf/dev-a/ota/data"], username="dev-a", password=pw["dev-a"])
    b = Recorder(broker.port, ["sf/#"], username="dev-b", password=pw["dev-b"])
    url = f"mqtt://{INGEST_USERNAME}:{pw[INGEST_USERNAME]}@127.0.0.1:{broker.port}"
    serve = ServeProcess(tmp_path, {"SENSORFLEET_MQTT_URL": url, "SENSORFLEET_ROLLOUT_TICK_S": "0.2"})
    try:
        serve.start()
        for name, board in (("dev-a", a), ("dev-b", b)):
            board.publish(f"sf/{name}/status", b'{"online":true,"fw":"0.1.0"}')
        wait_until(lambda: len(serve.http.get("/api/v1/devices").json()["devices"]) == 2, 10, "both boards")
        files = {"sensorfleet/app.py": base64.b64encode(b"print('0.2.0')\n").decode()}
        assert (
            serve.http.post("/api/v1/firmware", json={"version": "0.2.0", "files": files}).status_code == 201
        )
        started = serve.http.post("/api/v1/rollouts", json={"version": "0.2.0", "devices": ["dev-a"]})
        assert started.status_code == 201, started.text
        [offer] = a.wait_for(1)
        command = orjson.loads(offer.payload)
        assert (offer.topic, command["op"], command["args"]["v"]) == ("sf/dev-a/cmd", "ota", "0.2.0")
        ask = orjson.dumps({"v": "0.2.0", "file": "@manifest", "off": 0, "id": 9})
        a.publish("sf/dev-a/ota/req", ask, qos=0)
        chunk = a.wait_for(2)[1]
        status, req_id, total = chunk.payload[1], int.from_bytes(chunk.payload[2:4]), chunk.payload[8:12]
        assert (chunk.topic, status, req_id) == ("sf/dev-a/ota/data", 0, 9)
        listed = chunk.payload[12:]
        assert hashlib.sha256(listed).hexdigest() == command["args"]["sha256"] and int.from_bytes(
            total
        ) == len(listed)
        b.publish("sf/dev-b/ota/req", ask, qos=0)
        wait_until(lambda: any(m.topic == "sf/dev-b/ota/data" for m in b.snapshot()), 10, "dev-b's refusal")
        [refusal] = [m for m in b.snapshot() if m.topic == "sf/dev-b/ota/data"]
        assert refusal.payload[1] == 1 and len(refusal.payload) == 12
        b.publish("sf/dev-a/ota/req", ask, qos=0)  # in dev-a's name: dropped by the broker
        settle(1.0)
        assert len(a.snapshot()) == 2
        assert not [m for m in b.snapshot() if m.topic.startswith("sf/dev-a/")]
        counts = serve.metrics()
        assert counts["sensorfleet_ota_chunks_sent_total"] == 1
        assert counts["sensorfleet_ota_requests_refused_total"] == 1
    finally:
        serve.close()
        for client in (a, b):
            client.close()
