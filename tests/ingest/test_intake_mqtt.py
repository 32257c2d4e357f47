"""The intake (`ingest.intake.mqtt`). Its socket under paho (`BufferedSocket`): reads served from one
large read in whatever sizes paho asks, writes held until paho's loop comes round and then sent whole, a
socket that cannot take them all, a dead connection. And against a real Mosquitto, over plain TCP and
over TLS: every message of a burst arrives, and every acknowledgement reaches the broker."""

from __future__ import annotations

import os
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterator

import paho.mqtt.client as mqtt
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from paho.mqtt import _packet
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ingest.intake.mqtt import BufferedSocket, IntakeConfig, MqttIntake, plain_publish
from ingest.pipeline.work import Message
from support.boards import TlsBroker
from support.mosquitto import Mosquitto
from support.mqtt import Recorder
from support.procs import wait_until


@pytest.fixture
def pair() -> Iterator[tuple[BufferedSocket, socket.socket]]:
    ours, peer = socket.socketpair()
    ours.setblocking(False)
    peer.settimeout(2)
    yield BufferedSocket(ours), peer
    ours.close()
    peer.close()


@given(stream=st.binary(min_size=1, max_size=4000), sizes=st.lists(st.integers(1, 700), min_size=1))
def test_reads_in_any_sizes_give_the_stream_back_and_pending_counts_the_rest(
    stream: bytes, sizes: list[int]
) -> None:
    ours, peer = socket.socketpair()
    ours.setblocking(False)
    try:
        sock = BufferedSocket(ours)
        peer.sendall(stream)
        got = b""
        for size in sizes * (len(stream) // sum(sizes) + 1):
            if len(got) == len(stream):
                break
            piece = sock.recv(size)
            assert 0 < len(piece) <= size
            got += piece
            assert sock.pending() == sock.buffered() == len(stream) - len(got)
        assert got == stream
        with pytest.raises(BlockingIOError):
            sock.recv(1)  # nothing buffered and nothing on the socket: paho waits in select()
    finally:
        ours.close()
        peer.close()


def test_a_closed_connection_reads_as_empty(pair: tuple[BufferedSocket, socket.socket]) -> None:
    sock, peer = pair
    peer.sendall(b"\x30\x02ab")
    peer.close()
    assert sock.recv(1) == b"\x30" and sock.recv(1) == b"\x02" and sock.recv(10) == b"ab"
    assert sock.recv(1) == b""


def test_writes_wait_for_the_loop_then_go_in_one_piece(pair: tuple[BufferedSocket, socket.socket]) -> None:
    sock, peer = pair
    assert sock.send(b"\x40\x02\x00\x01") == 4 and sock.send(b"\x40\x02\x00\x02") == 4
    peer.settimeout(0.2)
    with pytest.raises(TimeoutError):
        peer.recv(100)
    assert sock.unsent()
    assert sock.pending() == 0  # paho's loop, before it waits: the acknowledgements go now
    assert peer.recv(100) == b"\x40\x02\x00\x01\x40\x02\x00\x02" and not sock.unsent()


def test_what_a_full_socket_cannot_take_waits_in_order(pair: tuple[BufferedSocket, socket.socket]) -> None:
    sock, peer = pair
    data = os.urandom(4 * 1024 * 1024)  # more than the socket's buffers hold
    sock.send(data)
    sock.pending()
    assert sock.unsent()  # paho's loop is then woken by select() when the socket can take more
    received = bytearray()
    while len(received) < len(data):
        received += peer.recv(1 << 20)
        sock.pending()
    assert received == data and not sock.unsent()


def test_a_dead_connection_drops_what_was_unsent_without_raising(
    pair: tuple[BufferedSocket, socket.socket],
) -> None:
    sock, peer = pair
    peer.close()
    sock.send(b"\x40\x02\x00\x01")
    assert sock.pending() == 0 and not sock.unsent()
    assert sock.recv(1) == b""  # where paho finds out


def test_close_sends_what_paho_wrote_last(pair: tuple[BufferedSocket, socket.socket]) -> None:
    sock, peer = pair
    sock.send(b"\xe0\x00")  # DISCONNECT, written just before paho closes the socket
    sock.close()
    assert peer.recv(10) == b"\xe0\x00"


def publish_packet(qos: int, topic: bytes, mid: int, properties: bytes, payload: bytes) -> bytes:
    """A PUBLISH after its remaining length: topic, packet id (QoS 1 and 2), properties, payload."""
    body = len(topic).to_bytes(2, "big") + topic + (mid.to_bytes(2, "big") if qos else b"")
    return body + properties + payload


PROPERTIES = st.sampled_from(
    [b"\x00", b"\x02\x01\x01", b"\x05\x02\x00\x00\x00\x3c", b"\x03\x23\x00\x07", b"", b"\x80"]
)
"""None; a payload format indicator; a message expiry; a topic alias; missing; a length cut short."""


@example(header=0x32, packet=publish_packet(1, b"sf/dev-1/telemetry", 7, b"\x00", b'{"v":1}'))
@given(
    header=st.integers(0x30, 0x3F),
    packet=st.builds(
        publish_packet,
        st.integers(0, 2),
        st.binary(max_size=20),
        st.integers(0, 65535),
        PROPERTIES,
        st.binary(),
    )
    | st.binary(max_size=40),
)
def test_a_publish_without_properties_decodes_as_paho_decodes_it_and_any_other_is_left_to_paho(
    header: int, packet: bytes
) -> None:
    mine = plain_publish(mqtt.MQTTv5, header, bytearray(packet))
    if mine is None:
        return
    paho = _packet.decode_publish(header, bytearray(packet), mqtt.MQTTv5)  # raises on a packet it cannot read
    assert paho.properties is not None and paho.properties.json() == {}
    assert (mine.topic, mine.payload, mine.mid, mine.qos, mine.retain) == (
        paho.topic.decode(),
        paho.payload,
        paho.mid,
        paho.qos,
        paho.retain,
    )
    assert type(mine.payload) is bytes


def test_only_an_mqtt5_publish_at_qos_0_or_1_without_properties_is_decoded_here() -> None:
    plain = publish_packet(1, b"sf/dev-1/telemetry", 7, b"\x00", b"{}")
    assert plain_publish(mqtt.MQTTv5, 0x32, plain) is not None
    assert plain_publish(mqtt.MQTTv311, 0x32, plain) is None
    assert plain_publish(mqtt.MQTTv5, 0x34, plain) is None  # QoS 2
    with_expiry = publish_packet(1, b"sf/dev-1/telemetry", 7, b"\x05\x02\x00\x00\x00\x3c", b"{}")
    assert plain_publish(mqtt.MQTTv5, 0x32, with_expiry) is None
    not_utf8 = publish_packet(1, b"sf/\xff/telemetry", 7, b"\x00", b"{}")
    assert plain_publish(mqtt.MQTTv5, 0x32, not_utf8) is None  # paho's message says what is wrong with it


MESSAGES = 1000


def subscribed(publisher: Recorder, received: queue.SimpleQueue[Message]) -> bool:
    """Whether a message sent now reaches the intake (acknowledged and left out of the count)."""
    publisher.publish("sf/dev-0/status", b'{"online":true}')
    time.sleep(0.1)
    if received.empty():
        return False
    while not received.empty():
        received.get().ack()
    return True


@pytest.mark.parametrize("tls", [False, True], ids=["tcp", "tls"])
def test_every_message_arrives_and_every_acknowledgement_reaches_the_broker(
    tls: bool,
    mosquitto_factory: Callable[..., Mosquitto],
    tls_broker_factory: Callable[..., TlsBroker],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A burst acknowledged from another thread, as the writer does; a new connection on the same
    session then gets nothing redelivered but a message sent after it."""
    if tls:
        tb = tls_broker_factory()
        broker, url = tb.broker, f"mqtts://127.0.0.1:{tb.tls_port}"
        monkeypatch.setenv("SSL_CERT_FILE", str(tb.ca))  # the intake verifies the broker with the system CAs
    else:
        broker = mosquitto_factory()
        url = broker.url
    config = IntakeConfig(url, "ingest-socket-test")
    received: queue.SimpleQueue[Message] = queue.SimpleQueue()
    intake = MqttIntake(config, received.put)
    intake.start()
    assert intake.connected.wait(10)
    burst: list[Message] = []

    def acknowledge() -> None:  # in batches, from a thread of its own, as the writer does
        while len(burst) < MESSAGES:
            batch = [received.get(timeout=30)]
            while not received.empty() and len(batch) < 500:
                batch.append(received.get())
            for m in batch:
                m.ack()
            burst.extend(batch)

    publisher = Recorder(broker.port, [])
    wait_until(lambda: subscribed(publisher, received), 10, "the intake's subscriptions")
    acker = threading.Thread(target=acknowledge)
    acker.start()
    for i in range(MESSAGES):
        publisher.publish("sf/dev-1/telemetry", b'{"n":%d}' % i)
    acker.join(60)
    assert sorted(m.payload for m in burst) == sorted(b'{"n":%d}' % i for i in range(MESSAGES))

    # A message with MQTT 5 properties, which the broker passes on, takes paho's own way in.
    v5 = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="v5-publisher", protocol=mqtt.MQTTv5)
    if tls:
        v5.tls_set(str(tb.ca))
    v5.connect("127.0.0.1", tb.tls_port if tls else broker.port)
    v5.loop_start()
    properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    properties.MessageExpiryInterval = 60
    properties.UserProperty = ("site", "north")
    v5.publish("sf/dev-2/telemetry", b'{"props":1}', 1, properties=properties).wait_for_publish(10)
    with_properties = received.get(timeout=10)
    assert (with_properties.topic, with_properties.payload) == ("sf/dev-2/telemetry", b'{"props":1}')
    with_properties.ack()
    v5.disconnect()
    v5.loop_stop()
    time.sleep(0.5)  # the last acknowledgements' way to the broker
    intake.stop()

    after: list[Message] = []
    again = MqttIntake(config, after.append)
    again.start()
    assert again.connected.wait(10)
    publisher.publish("sf/dev-1/telemetry", b'{"after":1}')
    wait_until(lambda: any(m.payload == b'{"after":1}' for m in after), 10, "the message after")
    time.sleep(0.5)
    assert [m.payload for m in after] == [b'{"after":1}']
    again.stop()
    publisher.close()
