"""Delivers alert notifications from the state store's outbox: webhooks and `<prefix>/$alerts`.

Any process may deliver any notification: each one is leased while it is tried, so two processes do
not send it at once. A failure is tried again after a backoff that doubles up to `backoff_cap_s`;
after `max_attempts` the notification is given up, and stays visible with its last error. Its thread
is apart from the pipeline's: a receiver that hangs or fails delays other notifications, never a
reading.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ingest.alerts.engine import MQTT_TARGET
from ingest.alerts.store import AlertStore, Notification
from ingest.alerts.webhook import Webhooks
from ingest.metrics import Metrics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NotifyConfig:
    poll_s: float = 1.0
    lease_s: float = 60.0
    backoff_base_s: float = 1.0
    backoff_cap_s: float = 300.0
    max_attempts: int = 50


class Notifier:
    def __init__(
        self,
        store: AlertStore,
        webhooks: Webhooks,
        publish_alert: Callable[[bytes], None],
        metrics: Metrics,
        config: NotifyConfig = NotifyConfig(),
        clock: Callable[[], float] = time.time,
    ):
        """`publish_alert` sends a body to `<prefix>/$alerts` (raises when it cannot)."""
        self.store = store
        self.webhooks = webhooks
        self.publish_alert = publish_alert
        self.metrics = metrics
        self.config = config
        self.clock = clock
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="notifier", daemon=True)

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.deliver_due()
            except Exception:  # the state store away: try again at the next poll
                log.exception("delivering alert notifications failed")
            self._wake.wait(self.config.poll_s)
            self._wake.clear()

    def deliver_due(self) -> int:
        """Delivers what is due now; returns how many were delivered."""
        c = self.config
        delivered = 0
        while not self._stopping.is_set():
            now = self.clock()
            batch = self.store.claim(int(now * 1000), int(c.lease_s * 1000))
            if not batch:
                return delivered
            for note in batch:
                delivered += self._deliver(note)
        return delivered

    def _deliver(self, note: Notification) -> bool:
        error = self._send(note)
        now_ms = int(self.clock() * 1000)
        if error is None:
            self.store.delivered(note.id, now_ms)
            self.metrics.add("alert_notifications_sent")
            return True
        attempts = note.attempts + 1
        self.metrics.add("alert_notifications_failed")
        c = self.config
        if attempts >= c.max_attempts:
            log.error(
                "gave up on notification %d to %s after %d tries: %s", note.id, note.target, attempts, error
            )
            self.store.retry(note.id, attempts, None, error, now_ms)
        else:
            delay = min(c.backoff_cap_s, c.backoff_base_s * 2 ** (attempts - 1))
            log.warning(
                "notification %d to %s failed (%s); again in %.0f s", note.id, note.target, error, delay
            )
            self.store.retry(note.id, attempts, now_ms + int(delay * 1000), error, now_ms)
        return False

    def _send(self, note: Notification) -> str | None:
        if note.target != MQTT_TARGET:
            return self.webhooks.post(note.target, note.body)
        try:
            self.publish_alert(note.body)
        except Exception as e:  # not connected to the broker, or its queue is full
            return f"{type(e).__name__}: {e}"[:300]
        return None
