"""The shipped Mosquitto config (deploy/mosquitto/) keeps its promises on a real broker: boards are
confined to their own topics, and the ingest's queue survives the ingest being away and a broker restart."""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from support.mosquitto import HINT
from support.procs import Process, find_binary, free_port, port_open, wait_until

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto"
USERS = {"dev-1": "pw-dev-1", "sensorfleet-ingest": "pw-ingest"}


def shipped_broker(workdir: Path) -> tuple[Process, int]:
    """The shipped config with only the listener, file paths and logging changed for a test."""
    port = free_port()
    passwd = workdir / "passwd"
    passwd.write_text("")
    passwd.chmod(0o600)
    for user, password in USERS.items():
        tool = find_binary("mosquitto_passwd", "/usr/sbin", hint=HINT)
        subprocess.run([tool, "-b", str(passwd), user, password], check=True, capture_output=True)
    acl = workdir / "acl"
    acl.write_text((DEPLOY / "sensorfleet.acl").read_text())
    acl.chmod(0o600)
    conf = (DEPLOY / "mosquitto.conf").read_text()
    conf = conf.replace("listener 1883 0.0.0.0", f"listener {port} 127.0.0.1")
    conf = conf.replace("/etc/mosquitto/sensorfleet.passwd", str(passwd))
    conf = conf.replace("/etc/mosquitto/sensorfleet.acl", str(acl))
    conf = conf.replace("/var/lib/mosquitto/", f"{workdir}/")
    conf = conf.replace("log_dest syslog", "log_dest stdout" + ("\nuser root" if os.geteuid() == 0 else ""))
    (workdir / "mosquitto.conf").write_text(conf)
    binary = find_binary("mosquitto", "/usr/sbin", hint=HINT)
    return Process([binary, "-c", str(workdir / "mosquitto.conf")], workdir / "mosquitto.log"), port


def start(broker: Process, port: int) -> None:
    broker.start()
    wait_until(lambda: broker.check_alive("mosquitto") or port_open(port), 10, "mosquitto")


def client(port: int, user: str, client_id: str, persistent: bool = False) -> tuple[mqtt.Client, list[bytes]]:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    c.username_pw_set(user, USERS[user])
    received: list[bytes] = []
    subscribed = threading.Event()
    c.on_message = lambda cl, u, m: received.append(m.payload)
    c.on_subscribe = lambda *a: subscribed.set()
    if persistent:
        c.on_connect = lambda cl, u, f, rc, p: cl.subscribe("sf/+/telemetry", 1)
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 3600
    c.connect("127.0.0.1", port, clean_start=not persistent, properties=props)
    c.loop_start()
    if persistent:
        assert subscribed.wait(10)
    else:
        wait_until(c.is_connected, 10, f"{user} connected")
    return c, received


def test_boards_stay_in_their_topics_and_the_ingest_queue_survives_a_broker_restart(tmp_path: Path) -> None:
    broker, port = shipped_broker(tmp_path)
    start(broker, port)
    try:
        ingest, received = client(port, "sensorfleet-ingest", "sensorfleet-ingest", persistent=True)
        ingest.disconnect()
        ingest.loop_stop()

        board, _ = client(port, "dev-1", "dev-1")
        for n in range(50):
            board.publish("sf/dev-1/telemetry", f"own-{n}".encode(), qos=1).wait_for_publish(10)
        board.publish("sf/dev-2/telemetry", b"impersonated", qos=1).wait_for_publish(10)
        board.disconnect()
        board.loop_stop()

        broker.stop()  # a clean stop saves the store
        start(broker, port)
        ingest, received = client(port, "sensorfleet-ingest", "sensorfleet-ingest", persistent=True)
        wait_until(lambda: len(received) >= 50, 10, "the queued messages")
        ingest.disconnect()
        ingest.loop_stop()
        assert received == [f"own-{n}".encode() for n in range(50)]
    finally:
        broker.stop()
