"""The generated password file and ACL, enforced by a real Mosquitto 2.0."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

import pytest
from provision_kit import connect_code

from ingest.provision.boardconfig import BoardSettings
from ingest.provision.broker_files import BrokerFiles
from ingest.provision.ids import INGEST_USERNAME
from ingest.provision.inventory import Inventory
from ingest.provision.provisioning import add_device
from ingest.state.migrate import open_state
from support.mosquitto import Mosquitto, MosquittoOptions
from support.mqtt import Recorder, settle
from support.procs import wait_until

Fleet = tuple[Mosquitto, dict[str, str], Path]
"""A locked broker, the logins' passwords (devices and ingest), and the data dir."""


def provision(data_dir: Path, *ids: str) -> tuple[dict[str, str], BrokerFiles]:
    passwords = {}
    files = None
    inventory = Inventory(open_state(data_dir))
    for device_id in ids:
        device, files = add_device(inventory, data_dir, BoardSettings(device_id=device_id))
        passwords[device_id] = device.config["mqtt"]["password"]
    assert files is not None
    return passwords, files


def locked_broker(factory: Callable[..., Mosquitto], files: BrokerFiles) -> Mosquitto:
    extra = f"allow_anonymous false\npassword_file {files.passwd}\nacl_file {files.acl}\n"
    return factory(MosquittoOptions(extra=extra))


@pytest.fixture
def fleet(tmp_path: Path, mosquitto_factory: Callable[..., Mosquitto]) -> Fleet:
    passwords, files = provision(tmp_path / "data", "dev-a", "dev-b")
    broker = locked_broker(mosquitto_factory, files)
    passwords[INGEST_USERNAME] = Inventory(open_state(tmp_path / "data")).login(INGEST_USERNAME).password
    return broker, passwords, tmp_path / "data"


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
