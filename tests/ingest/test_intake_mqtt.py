"""The intake (`ingest.intake.mqtt`) against a real Mosquitto, over plain TCP and over TLS: every message
of a burst arrives, and every acknowledgement reaches the broker."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable

import pytest

from ingest.intake.mqtt import IntakeConfig, MqttIntake
from ingest.pipeline.work import Message
from support.boards import TlsBroker
from support.mosquitto import Mosquitto
from support.mqtt import Recorder
from support.procs import wait_until

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
