"""The in-process event bus: the pipeline publishes readings, status changes and command results; the
API's stream and command tracker consume them.

`publish` is called from the pipeline's threads and never blocks: each async subscriber has a bounded
queue, and a subscriber that falls behind loses its oldest events (counted in `dropped`), so a slow
browser can never hold up ingestion.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ingest.points import Point

log = logging.getLogger(__name__)

EventKind = Literal["reading", "status", "command_result"]


@dataclass(frozen=True, slots=True)
class Event:
    kind: EventKind
    device: str
    data: Mapping[str, Any]


@dataclass(eq=False)
class Subscription:
    """One consumer's queue; `device` None receives every device. `owner` is whom it is counted against
    (an API token)."""

    device: str | None
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[Event]
    owner: str | None = None
    dropped: int = 0

    def _put(self, event: Event) -> None:
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(event)

    async def get(self, timeout: float) -> Event | None:
        """The next event, or None after `timeout` seconds without one."""
        try:
            return await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            return None


Listener = Callable[[Event], None]


class EventBus:
    def __init__(self, queue_size: int = 1000):
        self.queue_size = queue_size
        self._subscriptions: set[Subscription] = set()
        self._listeners: dict[EventKind, list[Listener]] = {}
        self._lock = threading.Lock()

    def publish(self, event: Event) -> None:
        self._deliver([event], *self._consumers(event.kind, event.device))

    def publish_readings(self, device: str, points: Iterable[Point]) -> None:
        """The readings of one message; their events are built only when someone consumes them, since
        this runs for every message the ingest receives."""
        if not self._subscriptions and not self._listeners.get("reading"):
            return  # the usual case, decided without the lock
        listeners, subscriptions = self._consumers("reading", device)
        if not listeners and not subscriptions:
            return
        events = [
            Event(
                "reading",
                device,
                {
                    "device": device,
                    "ts": point.ts_ms,
                    "values": {k: v for k, v in point.fields.items() if k != "seq"},
                },
            )
            for point in points
        ]
        self._deliver(events, listeners, subscriptions)

    def publish_status(self, device: str, status: Mapping[str, Any]) -> None:
        self.publish(Event("status", device, {**status, "device": device}))

    def publish_command_result(self, device: str, result: Mapping[str, Any]) -> None:
        self.publish(Event("command_result", device, {**result, "device": device}))

    def listen(self, kind: EventKind, listener: Listener) -> None:
        """Calls `listener` synchronously, in the publisher's thread, for every event of `kind`."""
        with self._lock:
            self._listeners.setdefault(kind, []).append(listener)

    def _consumers(self, kind: EventKind, device: str) -> tuple[list[Listener], list[Subscription]]:
        with self._lock:
            listeners = list(self._listeners.get(kind, ()))
            return listeners, [s for s in self._subscriptions if s.device in (None, device)]

    def _deliver(
        self, events: Sequence[Event], listeners: list[Listener], subscriptions: list[Subscription]
    ) -> None:
        for listener in listeners:
            for event in events:
                try:
                    listener(event)
                except Exception:
                    log.exception("event listener failed on %s event of %s", event.kind, event.device)
        for sub in subscriptions:
            try:
                for event in events:
                    sub.loop.call_soon_threadsafe(sub._put, event)
            except RuntimeError:  # its loop has closed: the consumer is gone
                self.unsubscribe(sub)

    def subscribe(self, device: str | None = None, owner: str | None = None) -> Subscription:
        """A queue of the events from now on; call from the consumer's event loop, unsubscribe when done."""
        sub = Subscription(device, asyncio.get_running_loop(), asyncio.Queue(self.queue_size), owner)
        with self._lock:
            self._subscriptions.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            self._subscriptions.discard(sub)

    @property
    def subscribers(self) -> int:
        with self._lock:
            return len(self._subscriptions)

    def subscribers_of(self, owner: str) -> int:
        with self._lock:
            return sum(sub.owner == owner for sub in self._subscriptions)
