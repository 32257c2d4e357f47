"""A paho-mqtt test client that records what it receives, for asserting on the wire."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from .procs import wait_until


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes
    qos: int
    retain: bool


class Recorder:
    """Connects, subscribes to `topics` and keeps every message in arrival order."""

    def __init__(
        self,
        port: int,
        topics: list[str] | None = None,
        client_id: str = "",
        username: str | None = None,
        password: str | None = None,
        host: str = "127.0.0.1",
    ):
        self.messages: list[Received] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311)
        if username is not None:
            self.client.username_pw_set(username, password)
        self.topics = topics or []
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(host, port, keepalive=10)
        self.client.loop_start()
        if self.topics:
            if not self._subscribed.wait(10):
                raise TimeoutError("subscription not acknowledged")
        else:
            wait_until(self.client.is_connected, 10, "recorder connection")

    def _on_connect(
        self, client: mqtt.Client, userdata: object, flags: object, rc: object, props: object
    ) -> None:
        for topic in self.topics:
            client.subscribe(topic, qos=1)

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append(Received(msg.topic, msg.payload, msg.qos, bool(msg.retain)))

    def snapshot(self) -> list[Received]:
        with self._lock:
            return list(self.messages)

    def wait_for(self, count: int, timeout: float = 10) -> list[Received]:
        wait_until(lambda: len(self.snapshot()) >= count, timeout, f"{count} messages")
        return self.snapshot()

    def publish(self, topic: str, payload: bytes | str, qos: int = 1, retain: bool = False) -> None:
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        info.wait_for_publish(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def settle(seconds: float = 0.2) -> None:
    """Gives in-flight messages a moment when a test asserts that nothing more arrives."""
    time.sleep(seconds)
