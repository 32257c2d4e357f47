"""Replaying dead letters through today's pipeline: once the cause is fixed (a wider timestamp window,
a device registered, a type conflict cleared), the letters that now pass are stored and counted as a
live message would be, and removed; the rest stay, with the reason they fail for today.

A dead letter is as hostile as when it arrived: it goes through the router's full decode and the
writer's apply step (`ingest.pipeline.apply`), with its original topic and receive time (so `age`
readings get their timestamps, and the timestamp window is measured, as they were then). Letters are
claimed first (`DeadLetters.claim`), so replays running at once in several processes never take the
same letter; a replayed batch whose seq numbers were already counted is counted as duplicates.

Points go straight to the store, never to the spool, which belongs to the live writer of one process:
while the store is down a replay fails with the outage and its letters stay as they were.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ingest.deadletters import DeadLetters, Selection, StoredLetter
from ingest.metrics import Metrics
from ingest.pipeline.apply import apply, isolate, reason
from ingest.pipeline.router import Router
from ingest.pipeline.work import Message, Rejected, StatusReport, Work
from ingest.registry import Registry
from ingest.storage.base import Store

log = logging.getLogger(__name__)

REPLAY_MAX = 1000
"""Letters one replay takes at most: its cost is bounded, whatever the selection matches."""
STALE_STATUS = (
    "not replayed: the device has been heard from since this status arrived, and a status replaces the "
    "device's state (purge the letter if it is of no more use)"
)
"""A status is a snapshot, not a reading: an old one replayed would overwrite what is known now."""
BATCH_MESSAGES = 100
"""Letters written to the store in one request (each holds at most 64 KiB of readings)."""


@dataclass(frozen=True)
class ReplayReport:
    stored: list[int] = field(default_factory=list)
    """Ids of the letters that passed: stored, counted and removed."""
    failed: dict[int, str] = field(default_factory=dict)
    """Id → the reason the letter fails for today; it stays, with that reason."""
    skipped: list[int] = field(default_factory=list)
    """Letters kept only in part (longer than the dead letters keep): not replayable, left as they were."""


def _no_ack() -> None:
    """A replayed message has no broker to acknowledge it to."""


class Replayer:
    def __init__(
        self,
        router: Router,
        store: Store,
        registry: Registry,
        dead_letters: DeadLetters,
        metrics: Metrics,
        clock: Callable[[], float] = time.time,
    ):
        """`router` is the live one's twin (same settings and registry) with metrics of its own: a
        replayed letter is not an MQTT message received. `metrics` counts duplicates and replays."""
        self.router, self.store, self.registry = router, store, registry
        self.dead_letters, self.metrics, self.clock = dead_letters, metrics, clock

    def replay(self, selection: Selection, limit: int = REPLAY_MAX) -> ReplayReport:
        """Replays at most `limit` of the letters `selection` matches (oldest first) that no other
        replay holds. Raises on an outage of the store or the state database, letting the letters go
        unchanged."""
        claim, letters = self.dead_letters.claim(selection, int(self.clock() * 1000), min(limit, REPLAY_MAX))
        try:
            report = self._run(letters)
        except BaseException:
            self.dead_letters.settle(claim, (), {})
            raise
        self.dead_letters.settle(claim, report.stored, report.failed)
        self.metrics.add("dead_letters_replayed", len(report.stored))
        if letters:
            log.info(
                "replayed %d dead letters: %d stored, %d still failing, %d not replayable",
                len(letters),
                len(report.stored),
                len(report.failed),
                len(report.skipped),
            )
        return report

    def _heard_since(self, device: str, received_ms: int) -> bool:
        known = self.registry.device(device)
        return known is not None and (known.last_seen_ms or 0) > received_ms

    def _run(self, letters: Sequence[StoredLetter]) -> ReplayReport:
        report = ReplayReport()
        works: list[Work] = []
        letter_of: dict[int, int] = {}
        """id(work) → its letter's id."""
        for letter in letters:
            if len(letter.payload) < letter.payload_bytes:
                report.skipped.append(letter.id)
                continue
            work = self.router.route(Message(letter.topic, letter.payload, letter.received_ms, _no_ack))
            if isinstance(work, Rejected):
                report.failed[letter.id] = work.reason
            elif isinstance(work, StatusReport) and self._heard_since(work.device, letter.received_ms):
                report.failed[letter.id] = STALE_STATUS
            else:
                works.append(work)
                letter_of[id(work)] = letter.id
        for start in range(0, len(works), BATCH_MESSAGES):
            batch = works[start : start + BATCH_MESSAGES]
            failures = isolate(lambda ws: apply(ws, self.store.write, self.registry, self.metrics), batch)
            for work, e in failures:
                report.failed[letter_of[id(work)]] = reason(e)
            failed = {id(w) for w, _ in failures}
            report.stored.extend(letter_of[id(w)] for w in batch if id(w) not in failed)
        return report
