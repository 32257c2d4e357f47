"""Notifications from the outbox to a real HTTP receiver: delivered once, retried with backoff when
the receiver fails or hangs, given up after the last attempt, and each delivered once when two
processes deliver from one state database."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from ingest.alerts.engine import MQTT_TARGET
from ingest.alerts.notify import Notifier, NotifyConfig
from ingest.alerts.store import AlertStore
from ingest.alerts.webhook import Webhooks
from ingest.metrics import Metrics
from ingest.state.database import StateDatabase
from ingest.state.migrate import open_state
from support.procs import wait_until
from support.webhook import WebhookReceiver


@dataclass
class Clock:
    now: float = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def state(state_url: str, tmp_path: Path) -> Iterator[StateDatabase]:
    db = open_state(tmp_path, state_url)
    yield db
    db.close()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    found = WebhookReceiver()
    yield found
    found.close()


def firing(store: AlertStore, url: str, clock: Clock, device: str = "dev-1") -> int:
    """A firing transition with a notification to `url` and to MQTT; returns the alert's id."""
    alert_id = store.start("hot", device, int(clock.now * 1000), {"value": 31})
    assert alert_id is not None
    body = orjson.dumps({"status": "firing", "alerts": [{"labels": {"alertname": "hot", "device": device}}]})
    assert store.fire(alert_id, int(clock.now * 1000), [(url, body), (MQTT_TARGET, body)])
    return alert_id


def notifier(state: StateDatabase, clock: Clock, published: list[bytes], timeout_s: float = 2.0) -> Notifier:
    config = NotifyConfig(backoff_base_s=1.0, backoff_cap_s=8.0, max_attempts=4)
    return Notifier(AlertStore(state), Webhooks(timeout_s), published.append, Metrics(), config, clock)


def test_a_notification_reaches_the_webhook_and_mqtt_once(
    state: StateDatabase, receiver: WebhookReceiver
) -> None:
    clock, published = Clock(), []
    store = AlertStore(state)
    firing(store, receiver.url, clock)
    n = notifier(state, clock, published)
    assert n.deliver_due() == 2
    assert n.deliver_due() == 0
    assert receiver.statuses() == [("firing", "hot", "dev-1")] and len(published) == 1
    assert {x.target: x.delivered_ms is not None for x in store.notifications()} == {
        receiver.url: True,
        MQTT_TARGET: True,
    }


def test_a_failing_receiver_is_retried_with_backoff_then_given_up(
    state: StateDatabase, receiver: WebhookReceiver
) -> None:
    clock, published = Clock(), []
    store = AlertStore(state)
    firing(store, receiver.url, clock)
    receiver.mode = "fail"
    n = notifier(state, clock, published)
    n.deliver_due()
    [note] = store.notifications(undelivered=True)
    assert (note.attempts, note.last_error) == (1, "HTTP 500")
    assert n.deliver_due() == 0 and receiver.attempts == 1, "tried again before its backoff"
    for wait_s in (1, 2, 4):  # 1 s, then doubling
        clock.now += wait_s
        n.deliver_due()
    [note] = store.notifications(undelivered=True)
    assert (receiver.attempts, note.attempts, note.failed_ms is not None) == (4, 4, True)
    assert store.undelivered_counts() == (0, 1)
    assert n.metrics.get("alert_notifications_failed") == 4


def test_a_receiver_down_then_up_gets_the_notification(
    state: StateDatabase, receiver: WebhookReceiver
) -> None:
    clock, published = Clock(), []
    store = AlertStore(state)
    firing(store, receiver.url, clock)
    receiver.mode = "hang"
    n = notifier(state, clock, published, timeout_s=0.5)
    started = time.monotonic()
    n.deliver_due()
    assert time.monotonic() - started < 5, "a hanging receiver held the notifier past its timeout"
    [note] = store.notifications(undelivered=True)
    assert note.last_error is not None and "Timeout" in note.last_error
    receiver.mode = "accept"
    clock.now += 1
    n.deliver_due()
    assert receiver.statuses() == [("firing", "hot", "dev-1")]
    assert store.undelivered_counts() == (0, 0)


def test_two_processes_deliver_each_notification_once(
    state_url: str, tmp_path: Path, receiver: WebhookReceiver
) -> None:
    first, second = open_state(tmp_path / "a", state_url), open_state(tmp_path / "b", state_url)
    try:
        clock = Clock()
        store = AlertStore(first)
        for i in range(20):
            firing(store, receiver.url, clock, f"dev-{i}")
        published: list[bytes] = []
        notifiers = [notifier(db, clock, published) for db in (first, second)]
        for n in notifiers:
            n.start()
            n.wake()
        wait_until(lambda: store.undelivered_counts() == (0, 0), 30, "every notification delivered")
        for n in notifiers:
            n.stop()
        assert sorted(d for _, _, d in receiver.statuses()) == sorted(f"dev-{i}" for i in range(20))
        assert len(published) == 20
    finally:
        first.close()
        second.close()


def test_mqtt_unavailable_is_retried(state: StateDatabase, receiver: WebhookReceiver) -> None:
    clock = Clock()
    store = AlertStore(state)
    firing(store, receiver.url, clock)
    sent: list[bytes] = []

    def publish(body: bytes) -> None:
        if clock.now < 1_800_000_001:
            raise ConnectionError("not connected to the broker")
        sent.append(body)

    n = Notifier(store, Webhooks(2), publish, Metrics(), NotifyConfig(), clock)
    n.deliver_due()
    assert sent == [] and store.undelivered_counts() == (1, 0)
    clock.now += 1
    n.deliver_due()
    assert len(sent) == 1 and store.undelivered_counts() == (0, 0)
