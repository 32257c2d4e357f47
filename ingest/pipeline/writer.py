"""The writer: buffers decoded messages, stores them, and only then acknowledges them.

One thread, in order: a batch (group commit: `Writer._collect`) is written to the store with retries;
if the store stays unavailable the batch goes to the fsync'd spool instead; either way the messages
are then safe and acknowledged. While the spool holds anything, new batches queue behind it so the
store receives everything in order. A full spool stops acknowledgements (the broker keeps the
messages) until there is room.

The queue in front of the writer is bounded (`max_queued`): `submit` waits while it is full, so the
MQTT client stops reading and the broker keeps what the writer has not taken yet. The broker's own
in-flight limit does not bound it: Mosquitto keeps sending as long as acknowledgements come back.

Isolation is a mechanism, not a list of cases (design.md §9): whatever exception one message causes
after decode (in the store, the registry or anywhere else on the write path) is found by halving the
batch, and that message goes to the dead letters with the reason and is acknowledged; the rest of the
batch is unaffected. Only an outage (`errors.is_outage`: the store or the disk unavailable) holds a
batch, and a batch held longer than `hold_max_s` is reported by `held_for()` (so `/readyz` fails).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import orjson

from ingest.deadletters import DeadLetter, DeadLetters
from ingest.errors import PermanentStoreError, SpoolFullError, TransientStoreError
from ingest.metrics import Metrics
from ingest.pipeline.apply import apply, isolate, reason
from ingest.pipeline.work import Readings, Rejected, Work
from ingest.points import Point
from ingest.registry import Registry
from ingest.storage.base import Store
from ingest.storage.spool import Spool

log = logging.getLogger(__name__)


IDLE_LOOK_S = 0.1
"""How often an idle writer looks at the spool and whether it is stopping."""


@dataclass(frozen=True)
class WriterConfig:
    batch_points: int = 5000
    batch_messages: int = 500
    flush_interval_s: float = 0.1
    """The oldest message of a batch waits at most this long."""
    linger_s: float = 0.002
    """While messages keep coming, how long to wait for the next one before writing what is there."""
    write_attempts: int = 3
    retry_base_s: float = 0.2
    retry_cap_s: float = 5.0
    """Longest wait (also for Retry-After) while messages wait unacknowledged; then they spool."""
    replay_cap_s: float = 5.0
    hold_retry_s: float = 1.0
    hold_max_s: float = 60.0
    """A batch held (unacknowledged) longer than this makes the service unready."""
    max_queued: int = 1000
    """Messages waiting for the writer at most; `submit` waits for room beyond."""


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
        self._room = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="writer", daemon=True)
        self._held: list[Work] = []
        self._held_since: float | None = None
        self.hold_reason = ""
        self._drain_until = float("inf")
        self._next_replay = 0.0
        self._replay_delay = self.config.retry_base_s
        self.spool_full = False
        self.store_ok = True

    # Interface -----------------------------------------------------------------------------------
    def submit(self, work: Work) -> None:
        """Queues `work`; while `max_queued` messages wait, first waits for the writer to take some."""
        while self._queue.qsize() >= self.config.max_queued and not self._stopping.is_set():
            self._room.clear()
            if self._queue.qsize() >= self.config.max_queued:  # the writer took none since
                self._room.wait(IDLE_LOOK_S)
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

    def held_for(self) -> float:
        """Seconds the current batch has waited unacknowledged for the store or the disk (0 when none)."""
        since = self._held_since
        return 0.0 if since is None else time.monotonic() - since

    def held_too_long(self) -> bool:
        return self.held_for() > self.config.hold_max_s

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
        """Group commit: a message that finds the writer idle is written at once, with whatever queued up
        while the previous batch was written; the batch waits for more only while they keep coming
        (each within `linger_s`), up to its size limits or `flush_interval_s`."""
        c = self.config
        try:
            first = self._queue.get(timeout=IDLE_LOOK_S)
        except queue.Empty:
            return []
        batch = [first]
        points = _points(first)
        deadline = time.monotonic() + c.flush_interval_s
        while points < c.batch_points and len(batch) < c.batch_messages:
            try:
                work = self._queue.get_nowait()
            except queue.Empty:
                wait = min(c.linger_s, deadline - time.monotonic())
                if len(batch) == 1 or wait <= 0:
                    break
                try:
                    work = self._queue.get(timeout=wait)
                except queue.Empty:
                    break
            batch.append(work)
            points += _points(work)
        self._room.set()
        return batch

    def _retry_held(self) -> None:
        self._sleep(self.config.hold_retry_s)
        batch, self._held = self._held, []
        self._flush_or_hold(batch)

    def _flush_or_hold(self, batch: list[Work]) -> None:
        try:
            self._flush(batch)
        except SpoolFullError as e:
            if not self.spool_full:
                log.error("%s: not acknowledging messages until the store is back", e)
            self.spool_full = True
            self._hold(batch, str(e))
        except Exception as e:  # an outage (is_outage): keep the messages unacknowledged, try again
            log.exception("storing a batch of %d messages failed; retrying", len(batch))
            self._hold(batch, f"{type(e).__name__}: {e}"[:300])
        else:
            if self.spool_full:
                log.warning("spool has room again: acknowledging messages")
            self.spool_full = False
            self._held_since, self.hold_reason = None, ""

    def _hold(self, batch: list[Work], reason: str) -> None:
        self._held, self.hold_reason = batch, reason
        if self._held_since is None:
            self._held_since = time.monotonic()

    def _flush(self, batch: list[Work]) -> None:
        """Stores and records the batch, then acknowledges all of it; raises only on an outage."""
        dead = [w.message.dead_letter(w.reason) for w in batch if isinstance(w, Rejected)]
        dead += self._isolated([w for w in batch if not isinstance(w, Rejected)])
        if dead:
            self.dead_letters.add(dead)
            self.metrics.add("dead_letters", len(dead))
            for d in dead:
                log.info("dead letter from %s: %s", d.topic[:200], d.reason)
        for w in batch:
            w.message.ack()
        self.metrics.add("messages_acked", len(batch))

    def _isolated(self, works: list[Work]) -> list[DeadLetter]:
        """Applies `works`; returns the messages that fail alone (`apply.isolate`) as dead letters."""
        dead = []
        for work, e in isolate(self._apply, works):
            if not isinstance(e, PermanentStoreError):
                log.warning("a message from %s failed: %r", work.message.topic[:200], e)
                self.metrics.add("isolated_failures")
            dead.append(work.message.dead_letter(reason(e)))
        return dead

    def _apply(self, works: list[Work]) -> None:
        apply(works, self._write_or_spool, self.registry, self.metrics)

    # Storing -------------------------------------------------------------------------------------
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


def _points(work: Work) -> int:
    return len(work.telemetry.points) if isinstance(work, Readings) else 0
