"""Impersonation through a real Mosquitto with the provisioned password file and ACL: a device
publishing as another, borrowing another's client id or the ingest's, odd usernames. Checked in
InfluxDB (not by PUBACK, which Mosquitto sends for messages its ACL drops)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from provision.provision_kit import connect_code
from reliability.chain import Chain, chain

from support.influx import InfluxDB
from support.mqtt import Recorder
from support.procs import wait_until

READINGS = 400
NOT_AUTHORIZED = 135


DEPLOY_CONF = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto" / "mosquitto.conf"
SITE_SPECIFIC = ("listener", "password_file", "acl_file", "persistence_location", "log_dest")


def recommended_settings() -> str:
    """The shipped Mosquitto configuration minus what names this machine's paths and ports."""
    lines = DEPLOY_CONF.read_text().splitlines()
    return "".join(f"{ln}\n" for ln in lines if ln.strip() and not ln.startswith(("#", *SITE_SPECIFIC)))


@pytest.fixture
def two_devices(tmp_path: Path, influxd: InfluxDB, influx_db: str) -> Iterator[Chain]:
    with chain(tmp_path, influxd, influx_db, devices=2, broker_extra=recommended_settings()) as c:
        yield c


def forged(boot: int = 99) -> bytes:
    return b'{"boot":%d,"seq":0,"readings":[{"ts":%d,"forged":666}]}' % (boot, int(time.time() * 1000))


def test_a_device_cannot_write_as_another_or_take_its_client_id(two_devices: Chain) -> None:
    c = two_devices
    c.start_ingest()
    board = c.add_board("dev-1", READINGS)
    board.start()
    pw = c.passwords["dev-2"]
    attacker = Recorder(c.broker.port, username="dev-2", password=pw)
    for topic in (
        "sf/dev-1/telemetry",
        "sf/dev-1/status",
        "sf/dev-1/cmd/result",
        "sf/dev-2/../dev-1/telemetry",
    ):
        attacker.publish(topic, forged())
    attacker.close()
    # With dev-1's client id the login is still dev-2's, and so are its rights.
    thief = Recorder(c.broker.port, username="dev-2", password=pw, client_id="dev-1")
    thief.publish("sf/dev-1/telemetry", forged())
    thief.close()
    for username in ("+", "#", "dev-1/#", "sf/dev-1", "dev-+", "dev-2/../dev-1"):
        assert connect_code(c.broker.port, username, pw) == NOT_AUTHORIZED, username
    board.wait_done(60)
    c.wait_drained(READINGS, 60)
    c.verify()
    assert c.influx.query('SHOW FIELD KEYS FROM "telemetry"', db=c.db)[0]["values"] == [
        ["humidity", "float"], ["seq", "integer"], ["temperature", "float"]
    ]  # fmt: skip


def test_with_the_shipped_config_the_ingest_queue_survives_a_device_using_its_client_id(
    two_devices: Chain,
) -> None:
    """The shipped config binds client ids to logins (`use_username_as_clientid`); without it, a
    device connecting with the ingest's client id and a clean session makes Mosquitto discard the
    ingest's persistent session and every reading queued in it."""
    steal_the_ingest_session(two_devices)


def steal_the_ingest_session(c: Chain) -> None:
    ingest = c.start_ingest()
    ingest.stop()  # the broker now queues for the ingest's session
    board = c.add_board("dev-1", READINGS)
    board.start()
    board.wait_done(60)
    received: list[str] = []
    # An MQTT 3.1.1 clean session with the ingest's id: were it honoured, the queue would be wiped.
    thief = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="ingest-0", protocol=mqtt.MQTTv311)
    thief.username_pw_set("dev-2", c.passwords["dev-2"])
    thief.on_message = lambda cl, u, msg: received.append(msg.topic)
    thief.connect("127.0.0.1", c.broker.port)
    thief.loop_start()
    wait_until(thief.is_connected, 10, "the thief's connection")
    thief.subscribe("sf/#", qos=1)
    time.sleep(1)
    thief.disconnect()
    thief.loop_stop()
    assert received == []
    restarted = c.start_ingest(SENSORFLEET_CLIENT_ID="ingest-0")
    c.wait_drained(READINGS, 10)  # a resumed queue drains in a second or two
    assert restarted.process.running()
    c.verify()
