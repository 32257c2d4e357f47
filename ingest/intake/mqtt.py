"""The one module that uses paho-mqtt: a persistent-session, manual-ack QoS 1 subscriber.

MQTT v5 with `clean_start=False` and a session expiry, so the broker queues for us while we are
down (paho's default on a new process would wipe that queue). A message is acknowledged only when
the writer calls its `ack`; an ack from before a reconnect is dropped, since the broker redelivers
that message in the new connection anyway.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ingest.contract import ingest_subscriptions
from ingest.errors import ConfigError
from ingest.pipeline.work import Message

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IntakeConfig:
    url: str
    client_id: str
    prefix: str = "sf"
    share_group: str | None = None
    protocol: Literal["5", "3.1.1"] = "5"
    session_expiry_s: int = 7 * 24 * 3600
    receive_maximum: int = 1000
    keepalive_s: int = 30
    password: str | None = None
    """Wins over a password in `url` (read from a file or the environment, never a command line)."""


class MqttIntake:
    def __init__(self, config: IntakeConfig, on_message: Callable[[Message], None]):
        self.config = config
        self._on_message = on_message
        parts = urlsplit(config.url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ConfigError(f"cannot use MQTT URL {config.url!r}")
        self._host, self._port = parts.hostname, parts.port or (8883 if parts.scheme == "mqtts" else 1883)
        v5 = config.protocol == "5"
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=config.client_id,
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
            clean_session=None if v5 else False,
            manual_ack=True,
        )
        if parts.username:
            password = config.password if config.password is not None else unquote(parts.password or "")
            self._client.username_pw_set(unquote(parts.username), password)
        if parts.scheme == "mqtts":
            self._client.tls_set()
        self._client.reconnect_delay_set(1, 30)
        self._client.on_connect = self._connected
        self._client.on_disconnect = self._disconnected
        self._client.on_message = self._received
        self._generation = 0
        self._stopping = False
        self._lock = threading.Lock()
        self.connected = threading.Event()

    def start(self) -> None:
        properties = None
        if self.config.protocol == "5":
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = self.config.session_expiry_s
            properties.ReceiveMaximum = self.config.receive_maximum
        clean_start: Any = False if self.config.protocol == "5" else mqtt.MQTT_CLEAN_START_FIRST_ONLY
        self._client.connect_async(
            self._host, self._port, self.config.keepalive_s, clean_start=clean_start, properties=properties
        )
        self._client.loop_start()

    def stop(self) -> None:
        self._stopping = True
        self._client.disconnect()
        self._client.loop_stop()

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> None:
        self._client.publish(topic, payload, qos)

    def _connected(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            log.error("MQTT connection to %s:%d refused: %s", self._host, self._port, reason)
            return
        with self._lock:
            self._generation += 1
        log.info("connected to %s:%d (session present: %s)", self._host, self._port, flags.session_present)
        subscriptions = ingest_subscriptions(self.config.prefix, self.config.share_group)
        client.subscribe([(topic, 1) for topic in subscriptions])
        self.connected.set()

    def _disconnected(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        self.connected.clear()
        if self._stopping:
            return
        log.warning("disconnected from %s:%d (%s); reconnecting", self._host, self._port, reason)

    def _received(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        generation, mid, qos = self._generation, msg.mid, msg.qos
        self._on_message(
            Message(
                msg.topic,
                bytes(msg.payload),
                int(time.time() * 1000),
                lambda: self._ack(generation, mid, qos),
                bool(msg.retain),
            )
        )

    def _ack(self, generation: int, mid: int, qos: int) -> None:
        with self._lock:
            if generation != self._generation or qos == 0:
                return
        self._client.ack(mid, qos)
