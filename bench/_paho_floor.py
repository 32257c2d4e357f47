"""A bare paho-mqtt subscriber, as the ingest's intake configures it (MQTT 5, persistent session, manual
acknowledgement, the same receive maximum) but acknowledging each message at once and doing nothing
else: what paho alone costs per message, the floor of any ingest built on it. CLIENT is `intake` for
the intake's client (`ingest.intake.mqtt.Client`: paho on a buffered socket, reading every buffered
packet per pass of its loop, reading a PUBLISH without properties itself), `stock` for paho's own.

`python -m bench._paho_floor PORT COUNT CLIENT` subscribes, prints `ready`, and exits after COUNT
messages on `sf/+/telemetry`, printing `{"seconds": first to last message, "cpu_s": the process's CPU
meanwhile}`.
"""

from __future__ import annotations

import resource
import sys
import threading
import time

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ingest.intake.mqtt import Client

TIMEOUT_S = 120


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(port: int, count: int, kind: str) -> int:
    received, done, subscribed = 0, threading.Event(), threading.Event()
    marks: dict[str, float] = {}
    make = Client if kind == "intake" else mqtt.Client
    client = make(CallbackAPIVersion.VERSION2, client_id="paho-floor", protocol=mqtt.MQTTv5, manual_ack=True)

    def take(mid: int, qos: int) -> None:
        nonlocal received
        if received == 0:
            marks["t0"], marks["cpu0"] = time.monotonic(), _cpu()
        received += 1
        client.ack(mid, qos)
        if received == count:
            marks["t1"], marks["cpu1"] = time.monotonic(), _cpu()
            done.set()

    client.on_message = lambda c, userdata, message: take(message.mid, message.qos)
    if isinstance(client, Client):
        client.on_plain_publish = lambda publish: take(publish.mid, publish.qos)
    client.on_subscribe = lambda *args: subscribed.set()
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.SessionExpiryInterval = 300
    properties.ReceiveMaximum = 1000
    client.connect("127.0.0.1", port, properties=properties)
    client.subscribe("sf/+/telemetry", 1)
    client.loop_start()
    try:
        if not subscribed.wait(30):
            return 1
        print("ready", flush=True)
        if not done.wait(TIMEOUT_S):
            return 1
    finally:
        client.disconnect()
        client.loop_stop()
    seconds, cpu = marks["t1"] - marks["t0"], marks["cpu1"] - marks["cpu0"]
    print(orjson.dumps({"seconds": seconds, "cpu_s": cpu}).decode(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]))
