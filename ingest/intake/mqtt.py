"""The one module that uses paho-mqtt: a persistent-session, manual-ack QoS 1 subscriber.

MQTT v5 with `clean_start=False` and a session expiry, so the broker queues for us while we are
down (paho's default on a new process would wipe that queue). A message is acknowledged only when
the writer calls its `ack`; an ack from before a reconnect is dropped, since the broker redelivers
that message in the new connection anyway.

paho's own loop reads one packet per wait in select(), and each packet in three `recv` calls (its
type, its length, the rest); each acknowledgement is a `send` of its own. Under load that bookkeeping
cost more than the packets. Here its socket reads ahead (`BufferedSocket`) and the client reads every
packet already buffered before it waits again (`Client.loop_read`); what it writes goes out together
once per pass of its loop. A PUBLISH without MQTT 5 properties (what boards send) is read here
(`plain_publish`) and handed to the intake directly, without paho's properties object (which cost
more than the rest of the packet), message object and callback dispatch.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
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


READ_AHEAD = 64 * 1024
"""Bytes asked of the socket at once: many packets under load."""
PACKETS_PER_PASS = 100
"""Packets read from the buffer before paho's loop looks at writes, keepalive and the socket again."""


class BufferedSocket:
    """paho's socket, reading ahead and writing behind. paho uses recv, send, pending, fileno,
    setblocking and close.

    paho's loop calls `pending()` before each wait in select(), to know whether bytes are buffered
    (it then does not wait). It is also where what paho wrote since the last pass is sent, in one
    system call; `Client.want_write` has select() wake the loop while the socket cannot take it all."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        # One buffer, read into again and again, rather than a new 64 KiB object per read.
        self._in = bytearray(READ_AHEAD)
        self._view = memoryview(self._in)
        self._at = self._end = 0
        self._out = bytearray()

    def recv(self, size: int) -> bytes:
        if self._at >= self._end:
            read = self._sock.recv_into(self._in)  # BlockingIOError etc. go to paho
            if not read:
                return b""  # the broker closed the connection
            self._at, self._end = 0, read
        start = self._at
        self._at = min(start + size, self._end)
        return bytes(self._view[start : self._at])

    def buffered(self) -> int:
        return self._end - self._at

    def send(self, data: bytes | bytearray) -> int:
        self._out += data
        return len(data)

    def unsent(self) -> bool:
        return bool(self._out)

    def pending(self) -> int:
        self._flush()
        inner = self._sock.pending() if isinstance(self._sock, ssl.SSLSocket) else 0
        return self.buffered() + inner

    def _flush(self) -> None:
        if not self._out:
            return
        try:
            sent = self._sock.send(self._out)
        except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
            return  # the socket is full: select() wakes the loop when it can take more
        except OSError as e:
            # The connection is gone: paho finds out at its next read, and the broker sends again
            # whatever these acknowledgements were for.
            log.debug("writing to the broker failed: %s", e)
            self._out.clear()
            return
        del self._out[:sent]

    def fileno(self) -> int:
        return self._sock.fileno()

    def setblocking(self, flag: bool) -> None:
        self._sock.setblocking(flag)

    def close(self) -> None:
        self._flush()  # a DISCONNECT paho wrote just before
        self._sock.close()


class Publish(NamedTuple):
    """A PUBLISH as the intake takes it."""

    topic: str
    payload: bytes
    mid: int
    qos: int
    retain: bool


def plain_publish(protocol: int, header: int, packet: bytes | bytearray) -> Publish | None:
    """An MQTT 5 PUBLISH at QoS 0 or 1 with an empty property list and a UTF-8 topic, read as paho
    reads it; None for any other packet (`header`: its first byte; `packet`: what follows its
    remaining length)."""
    qos = (header & 0x06) >> 1
    if protocol != mqtt.MQTTv5 or qos > 1 or len(packet) < 2:
        return None
    topic_end = 2 + int.from_bytes(packet[:2], "big")
    properties_at = topic_end + 2 * qos  # after the packet id of a QoS 1 message
    if len(packet) <= properties_at or packet[properties_at] != 0:
        return None
    try:
        topic = packet[2:topic_end].decode()
    except UnicodeDecodeError:
        return None
    mid = int.from_bytes(packet[topic_end:properties_at], "big")
    return Publish(topic, bytes(packet[properties_at + 1 :]), mid, qos, bool(header & 0x01))


class Client(mqtt.Client):
    """paho's client on a `BufferedSocket`, reading every buffered packet in one pass of its loop. Each
    PUBLISH `plain_publish` reads goes to `on_plain_publish`, without paho's MQTT 5 properties object,
    message object and callback dispatch (about half of paho's time a message); `on_message` gets the
    others."""

    on_plain_publish: Callable[[Publish], None] | None = None

    def _create_socket(self) -> Any:
        return BufferedSocket(super()._create_socket())  # type: ignore[arg-type]

    def want_write(self) -> bool:
        sock = self._sock
        return super().want_write() or (isinstance(sock, BufferedSocket) and sock.unsent())

    def _handle_publish(self) -> MQTTErrorCode:
        publish = plain_publish(self._protocol, self._in_packet["command"], self._in_packet["packet"])
        if publish is None or self.on_plain_publish is None:
            return super()._handle_publish()
        self.on_plain_publish(publish)
        if publish.qos == 0 or self._manual_ack:
            return MQTTErrorCode.MQTT_ERR_SUCCESS
        return self._send_puback(publish.mid)

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        rc = super().loop_read(max_packets)
        for _ in range(PACKETS_PER_PASS):
            sock = self._sock
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS or not isinstance(sock, BufferedSocket):
                break
            if not sock.buffered():
                break
            rc = super().loop_read(max_packets)
        return rc


class MqttIntake:
    def __init__(self, config: IntakeConfig, on_message: Callable[[Message], None]):
        self.config = config
        self._on_message = on_message
        parts = urlsplit(config.url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ConfigError(f"cannot use MQTT URL {config.url!r}")
        self._host, self._port = parts.hostname, parts.port or (8883 if parts.scheme == "mqtts" else 1883)
        v5 = config.protocol == "5"
        self._client = Client(
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
        self._client.on_plain_publish = self._accept
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
        self._accept(Publish(msg.topic, bytes(msg.payload), msg.mid, msg.qos, bool(msg.retain)))

    def _accept(self, publish: Publish) -> None:
        generation, mid, qos = self._generation, publish.mid, publish.qos
        self._on_message(
            Message(
                publish.topic,
                publish.payload,
                int(time.time() * 1000),
                lambda: self._ack(generation, mid, qos),
                publish.retain,
            )
        )

    def _ack(self, generation: int, mid: int, qos: int) -> None:
        with self._lock:
            if generation != self._generation or qos == 0:
                return
        self._client.ack(mid, qos)
