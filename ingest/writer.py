"""The writer: buffers decoded messages, stores them, and only then acknowledges them.

One thread, in order: a batch (by size, message count or age) is written to the store with retries;
if the store stays unavailable the batch goes to the fsync'd spool instead; either way the messages
are then safe and acknowledged. While the spool holds anything, new batches queue behind it so the
store receives everything in order. A full spool stops acknowledgements (the broker keeps the
messages) until there is room. Messages that can never be stored are isolated by halving the batch
and go to the dead letters; the rest of the batch is unaffected.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import orjson

from ingest.codec.payload import Status, Telemetry
from ingest.deadletters import DeadLetter, DeadLetters
from ingest.errors import PermanentStoreError, SpoolFullError, TransientStoreError
from ingest.metrics import Metrics
from ingest.points import Point
from ingest.registry.devices import Registry
from ingest.storage.base import Store
from ingest.storage.spool import Spool

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Message:
    """One MQTT message as received, and how to acknowledge it."""

    topic: str
    payload: bytes
    received_ms: int
    ack: Callable[[], None]
    retained: bool = False


@dataclass(frozen=True, slots=True)
class Work:
    """A message with what the router made of it: exactly one of the optional parts is set."""

    message: Message
    telemetry: Telemetry | None = None
    status: tuple[str, Status] | None = None
    command_result: tuple[str, str] | None = None
    rejected: str | None = None

    def dead_letter(self, reason: str) -> DeadLetter:
        m = self.message
        return DeadLetter(m.received_ms, m.topic, reason, m.payload, len(m.payload))


@dataclass(frozen=True)
class WriterConfig:
    batch_points: int = 5000
    batch_messages: int = 500
    flush_interval_s: float = 0.1
    write_attempts: int = 3
    retry_base_s: float = 0.2
    retry_cap_s: float = 5.0
    """Longest wait (also for Retry-After) while messages wait unacknowledged; then they spool."""
    replay_cap_s: float = 5.0
    hold_retry_s: float = 1.0


class Writer:
    def __init__(
        self,
        store: Store,
        spool: Spool,
        dead_letters: DeadLetters,
        registry: Registry,
        metrics: Metrics,
        config: WriterConfig | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.store, self.spool, self.dead_letters, self.registry = store, spool, dead_letters, registry
        self.metrics = metrics
        self.config = config or WriterConfig()
        self._sleep = sleep
        self._queue: queue.SimpleQueue[Work] = queue.SimpleQueue()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="writer", daemon=True)
        self._held: list[Work] = []
        self._drain_until = float("inf")
        self._next_replay = 0.0
        self._replay_delay = self.config.retry_base_s
        self.spool_full = False
        self.store_ok = True

    # Interface -----------------------------------------------------------------------------------
    def submit(self, work: Work) -> None:
        self._queue.put(work)

    def start(self) -> None:
        self._thread.start()

    def stop(self, drain_s: float = 2.0, timeout: float = 30.0) -> None:
        """Stores and acknowledges what arrives within `drain_s`, then stops (waiting at most `timeout`
        for a write in progress). Messages not acknowledged by then stay with the broker."""
        self._drain_until = time.monotonic() + drain_s
        self._stopping.set()
        self._thread.join(timeout)

    def pending(self) -> int:
        return self._queue.qsize() + len(self._held)

    # The loop ------------------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            if self._held:
                self._retry_held()
            else:
                batch = self._collect()
                if batch:
                    self._flush_or_hold(batch)
                elif self._stopping.is_set():
                    return
            if self._stopping.is_set() and time.monotonic() > self._drain_until:
                return
            try:
                self._replay()
            except Exception:  # e.g. the disk: the batch stays in the spool for the next try
                log.exception("replaying the spool failed; retrying")
                self._next_replay = time.monotonic() + self.config.replay_cap_s
            if self._stopping.is_set() and self._held:
                log.error("stopping with %d messages unacknowledged: the spool is full", len(self._held))
                return

    def _collect(self) -> list[Work]:
        c = self.config
        try:
            first = self._queue.get(timeout=c.flush_interval_s)
        except queue.Empty:
            return []
        batch = [first]
        points = len(first.telemetry.points) if first.telemetry else 0
        deadline = time.monotonic() + c.flush_interval_s
        while points < c.batch_points and len(batch) < c.batch_messages:
            remaining = deadline - time.monotonic()
            try:
                work = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            batch.append(work)
            points += len(work.telemetry.points) if work.telemetry else 0
        return batch

    def _retry_held(self) -> None:
        self._sleep(self.config.hold_retry_s)
        batch, self._held = self._held, []
        self._flush_or_hold(batch)

    def _flush_or_hold(self, batch: list[Work]) -> None:
        try:
            self._flush(batch)
            if self.spool_full:
                log.warning("spool has room again: acknowledging messages")
            self.spool_full = False
        except SpoolFullError as e:
            if not self.spool_full:
                log.error("%s: not acknowledging messages until the store is back", e)
            self.spool_full = True
            self._held = batch
        except Exception:  # e.g. the disk: keep the messages unacknowledged and try again
            log.exception("storing a batch of %d messages failed; retrying", len(batch))
            self._held = batch

    def _flush(self, batch: list[Work]) -> None:
        telemetry = [w for w in batch if w.telemetry is not None]
        dead = [w.dead_letter(w.rejected) for w in batch if w.rejected is not None]
        refused: set[int] = set()
        if telemetry:
            for index, reason in self._store(telemetry):
                refused.add(index)
                dead.append(telemetry[index].dead_letter(reason))
        if dead:
            self.dead_letters.add(dead)
            self.metrics.add("dead_letters", len(dead))
            for d in dead:
                log.info("dead letter from %s: %s", d.topic, d.reason)
        for w in batch:
            if w.status is not None:
                m = w.message
                self.registry.set_status(w.status[0], w.status[1], m.received_ms, m.retained)
            elif w.command_result is not None:
                device, command_id = w.command_result
                self.registry.record_command_result(
                    device, command_id, w.message.payload, w.message.received_ms
                )
        stored = [(w.telemetry, w.message.received_ms) for i, w in enumerate(telemetry) if i not in refused]
        duplicates = self.registry.record((t, ms) for t, ms in stored if t is not None)
        if duplicates:
            self.metrics.add("duplicates", duplicates)
        for w in batch:
            w.message.ack()
        self.metrics.add("messages_acked", len(batch))

    # Storing -------------------------------------------------------------------------------------
    def _store(self, messages: list[Work], offset: int = 0) -> list[tuple[int, str]]:
        """Writes or spools the messages' points; returns (index, reason) of those never storable."""
        try:
            self._write_or_spool([p for w in messages if w.telemetry for p in w.telemetry.points])
            return []
        except PermanentStoreError as e:
            if len(messages) == 1:
                return [(offset, str(e))]
        half = len(messages) // 2
        return self._store(messages[:half], offset) + self._store(messages[half:], offset + half)

    def _write_or_spool(self, points: Sequence[Point]) -> None:
        if not self.spool.batches:
            try:
                self._write_with_retry(points)
                return
            except TransientStoreError as e:
                log.warning("store unavailable (%s): spooling", e)
        self.spool.append(points)
        self.metrics.add("points_spooled", len(points))

    def _write_with_retry(self, points: Sequence[Point]) -> None:
        c = self.config
        for attempt in range(c.write_attempts):
            try:
                self._write(points)
                return
            except TransientStoreError as e:
                if attempt == c.write_attempts - 1:
                    raise
                delay = e.retry_after if e.retry_after is not None else c.retry_base_s * 2**attempt
                self._sleep(min(delay, c.retry_cap_s))

    def _write(self, points: Sequence[Point]) -> None:
        started = time.monotonic()
        try:
            self.store.write(points)
        except TransientStoreError:
            self.metrics.add("write_errors")
            self.store_ok = False
            raise
        self.store_ok = True
        self.metrics.observe_write(time.monotonic() - started)
        self.metrics.add("points_written", len(points))

    # Replaying the spool -------------------------------------------------------------------------
    def _replay(self) -> None:
        """Replays spooled batches in order for a bounded time, backing off while the store is down."""
        budget_end = time.monotonic() + 0.5
        while self.spool.batches and time.monotonic() >= self._next_replay and time.monotonic() < budget_end:
            points = self.spool.peek()
            if points is None:
                return
            try:
                self._replay_batch(points)
            except TransientStoreError as e:
                delay = e.retry_after if e.retry_after is not None else self._replay_delay
                self._next_replay = time.monotonic() + delay
                self._replay_delay = min(self._replay_delay * 2, self.config.replay_cap_s)
                return
            self.spool.pop()
            self._replay_delay = self.config.retry_base_s
            if not self.spool.batches:
                log.warning("spool drained: the store has everything")

    def _replay_batch(self, points: Sequence[Point]) -> None:
        try:
            self._write(points)
        except PermanentStoreError as e:
            if len(points) == 1:
                p = points[0]
                payload = orjson.dumps({"ts": p.ts_ms, **p.fields})
                self.dead_letters.add(
                    [DeadLetter(int(time.time() * 1000), f"spool/{p.device}", str(e), payload)]
                )
                self.metrics.add("dead_letters")
                return
            half = len(points) // 2
            self._replay_batch(points[:half])
            self._replay_batch(points[half:])
