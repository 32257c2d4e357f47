"""Evaluates alert rules on the pipeline's messages and on a timer, in a thread of its own.

The pipeline hands readings and statuses over through a bounded queue and never waits: a full queue
drops the evaluation (counted), never a reading. Each condition's truth is kept in memory per rule and
device; the state store is touched only when an alert has to move (start, fire, cancel, resolve), and
the store decides which process moves it (`AlertStore`). The alerts that are pending or firing are
re-read every tick, so a process learns of moves another one made.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ingest.alerts import payload
from ingest.alerts.rules import BoardLoss, IngestHealth, Missing, NoReadings, Offline, Rate, Rule, Threshold
from ingest.alerts.store import Alert, AlertStore
from ingest.codec.payload import Status
from ingest.metrics import Metrics
from ingest.points import Point
from ingest.registry import DeviceInfo

log = logging.getLogger(__name__)

MQTT_TARGET = "mqtt"
QUEUE_MAX = 10_000
DEAD_LETTER_WINDOW_S = 60.0


@dataclass(frozen=True)
class IngestFacts:
    spool_pct: float
    writer_held_s: float
    dead_letters: int


@dataclass
class Facts:
    """What the engine reads of the service, passed in so the engine stays testable."""

    tags_for: Callable[[str], Mapping[str, str]]
    devices: Callable[[], Iterable[DeviceInfo]]
    ingest: Callable[[], IngestFacts]
    instance: str
    """This process's name for its own health alerts (`ingest:<client id>`)."""


@dataclass
class _Rules:
    """The rules, indexed so that a message costs a look at the rules that can concern it."""

    all: list[Rule] = field(default_factory=list)
    by_device: dict[str, list[Rule]] = field(default_factory=dict)
    by_tag: dict[tuple[str, str], list[Rule]] = field(default_factory=dict)
    everyone: list[Rule] = field(default_factory=list)
    ingest: list[Rule] = field(default_factory=list)

    @classmethod
    def of(cls, rules: Sequence[Rule]) -> _Rules:
        index = cls(all=list(rules))
        for rule in rules:
            s = rule.selector
            if isinstance(rule.condition, IngestHealth):
                index.ingest.append(rule)
            elif s.all:
                index.everyone.append(rule)
            elif s.tag is not None:
                index.by_tag.setdefault(s.tag, []).append(rule)
            for device in s.devices:
                index.by_device.setdefault(device, []).append(rule)
        return index

    def for_device(self, device: str, tags: Mapping[str, str]) -> list[Rule]:
        found = self.everyone + self.by_device.get(device, [])
        for tag in tags.items():
            found += self.by_tag.get(tag, [])
        return found


@dataclass
class _DeviceRules:
    by_metric: dict[str, list[Rule]]
    status: list[Rule]
    scan: list[Rule]

    @classmethod
    def of(cls, rules: Iterable[Rule]) -> _DeviceRules:
        found = cls({}, [], [])
        for rule in rules:
            c = rule.condition
            if isinstance(c, Threshold | Rate):
                found.by_metric.setdefault(c.metric, []).append(rule)
            elif isinstance(c, Offline | BoardLoss):
                found.status.append(rule)
            elif isinstance(c, NoReadings | Missing):
                found.scan.append(rule)
        return found


_STOP = "stop"
"""What `AlertEngine.stop` queues to wake the loop."""


class AlertEngine:
    def __init__(
        self,
        store: AlertStore,
        facts: Facts,
        metrics: Metrics,
        external_url: str,
        clock: Callable[[], float] = time.time,
        tick_s: float = 1.0,
        scan_s: float = 5.0,
        wake: Callable[[], None] = lambda: None,
    ):
        """`wake` is called after a transition wrote notifications (the notifier's cue)."""
        self.store = store
        self.facts = facts
        self.metrics = metrics
        self.external_url = external_url
        self.clock = clock
        self.tick_s = tick_s
        self.scan_s = scan_s
        self.wake = wake
        self._queue: queue.Queue[tuple[str, str, Any]] = queue.Queue(QUEUE_MAX)
        self._rules_changed = threading.Event()
        self._rules = _Rules()
        self._version = -1
        self._device_rules: dict[str, tuple[Mapping[str, str], _DeviceRules]] = {}
        self._active: dict[tuple[str, str], Alert] = {}
        self._truth: dict[tuple[str, str], bool] = {}
        self._last: dict[tuple[str, str], tuple[int, float]] = {}
        self._outbox: dict[str, int] = {}
        self._dead_letters: deque[tuple[float, int]] = deque()
        self._next_scan = 0.0
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="alerts", daemon=True)

    # Inputs: called from the pipeline's threads, never blocking -----------------------------------
    def readings(self, device: str, points: Sequence[Point]) -> None:
        if self._rules.all or self._rules_changed.is_set():
            self._offer("readings", device, points)

    def status(self, device: str, status: Status) -> None:
        if self._rules.all or self._rules_changed.is_set():
            self._offer("status", device, status)

    def rules_changed(self) -> None:
        """A rule was added or removed in this process: messages are taken from now on, and the
        rules are read again before the next one is evaluated (another process's change is seen
        at the next tick)."""
        self._rules_changed.set()

    def _offer(self, kind: str, device: str, item: Any) -> None:
        try:
            self._queue.put_nowait((kind, device, item))
        except queue.Full:
            self.metrics.add("alert_evaluations_dropped")

    # The loop -------------------------------------------------------------------------------------
    def start(self) -> None:
        self.refresh()
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        # The loop may be waiting up to a tick for a message: this one ends the wait (a full queue
        # keeps it busy, and it sees the flag after the message at hand).
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait((_STOP, "", None))
        self._thread.join(timeout)

    def _run(self) -> None:
        next_tick = time.monotonic()
        while not self._stopping.is_set():
            try:
                kind, device, item = self._queue.get(timeout=max(0.0, next_tick - time.monotonic()))
                self._guarded(self._refresh_if_changed)
                self._guarded(self._evaluate, kind, device, item)
            except queue.Empty:
                pass
            if time.monotonic() >= next_tick:
                self._guarded(self.tick)
                next_tick = time.monotonic() + self.tick_s

    def _guarded(self, step: Callable[..., None], *args: Any) -> None:
        try:
            step(*args)
        except Exception:  # the state store away, or a bug: the next tick starts again from the store
            log.exception("evaluating alerts failed")
            self.metrics.add("alert_evaluation_errors")

    def drain(self) -> None:
        """Evaluates what is queued now, in the caller's thread (tests and benchmarks)."""
        while True:
            try:
                kind, device, item = self._queue.get_nowait()
            except queue.Empty:
                return
            self._refresh_if_changed()
            self._evaluate(kind, device, item)

    def _refresh_if_changed(self) -> None:
        """Before a message: the rules again if this process changed them since the last one."""
        if self._rules_changed.is_set():
            self._rules_changed.clear()
            self.refresh()

    # Evaluation -----------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-reads the rules when they changed and the alerts that are pending or firing."""
        version = self.store.rules_version()
        if version != self._version:
            rules = self.store.rules()
            self._rules, self._version, self._device_rules = _Rules.of(rules), version, {}
            names = {r.name for r in rules}
            self._truth = {k: v for k, v in self._truth.items() if k[0] in names}
        self._active = {(a.rule, a.device): a for a in self.store.active()}

    def tick(self) -> None:
        self.refresh()
        now = self.clock()
        if now >= self._next_scan:
            self._next_scan = now + self.scan_s
            self._scan(now)
        self._ingest_health(now)
        by_name = {r.name: r for r in self._rules.all}
        for (name, device), alert in list(self._active.items()):
            rule = by_name.get(name)
            if rule is not None and alert.state == "pending" and self._truth.get((name, device), True):
                self._apply(rule, device, True, alert.value, now)

    def _evaluate(self, kind: str, device: str, item: Any) -> None:
        if kind == _STOP:
            return
        if kind == "readings":
            self._readings(device, item, self.clock())
        else:
            self._status(device, item, self.clock())

    def _readings(self, device: str, points: Sequence[Point], now: float) -> None:
        """Each reading rule on the device's metrics. The common case, a value on the quiet side of a
        limit with no alert, costs a comparison with the message's extreme value; the readings are
        looked at one by one only where an alert may start or is on."""
        by_metric = self._rules_of(device).by_metric
        if not by_metric:
            return
        series: dict[str, list[tuple[int, float]]] = {}
        for point in points:
            for metric, value in point.fields.items():
                if metric in by_metric and isinstance(value, int | float) and not isinstance(value, bool):
                    series.setdefault(metric, []).append((point.ts_ms, float(value)))
        for metric, values in series.items():
            low, high = min(v for _, v in values), max(v for _, v in values)
            rate: float | None = None
            for rule in by_metric[metric]:
                c = rule.condition
                key = (rule.name, device)
                quiet = key not in self._active and not self._truth.get(key)
                if isinstance(c, Threshold):
                    if quiet and not _past(c, low, high):
                        continue
                    for ts_ms, value in values:
                        # A process that has not seen the condition yet (restarted, or its readings
                        # shared with another process) but knows the alert is on keeps it inside the band.
                        truth = _threshold(c, value, self._truth.get(key, key in self._active))
                        self._apply(rule, device, truth, {"value": value, "at": ts_ms}, now)
                elif isinstance(c, Rate):
                    if rate is None:
                        rate = self._fastest(device, metric, values)
                    if not (quiet and rate <= c.per_s):
                        self._apply(
                            rule,
                            device,
                            rate > c.per_s,
                            {"per_s": round(rate, 6), "value": values[-1][1]},
                            now,
                        )
            self._last[(device, metric)] = values[-1]

    def _fastest(self, device: str, metric: str, values: list[tuple[int, float]]) -> float:
        """The fastest change per second between consecutive readings, this message's and the one
        before it (0 with a single reading)."""
        last = self._last.get((device, metric))
        steps = [last, *values] if last is not None else values
        fastest = 0.0
        for (t0, v0), (t1, v1) in itertools.pairwise(steps):
            if t1 > t0:
                fastest = max(fastest, abs(v1 - v0) * 1000 / (t1 - t0))
        return fastest

    def _status(self, device: str, status: Status, now: float) -> None:
        for rule in self._rules_of(device).status:
            c = rule.condition
            if isinstance(c, Offline):
                self._apply(rule, device, not status.online, {"online": status.online}, now)
            elif isinstance(c, BoardLoss):
                self._board_loss(rule, c, device, status, now)
        outbox = (status.extra or {}).get("outbox")
        if isinstance(outbox, int):
            self._outbox[device] = outbox

    def _rules_of(self, device: str) -> _DeviceRules:
        """The device's rules, made again when its tags changed (the registry hands out a new
        mapping then)."""
        tags = self.facts.tags_for(device)
        found = self._device_rules.get(device)
        if found is None or found[0] is not tags:
            found = (tags, _DeviceRules.of(self._rules.for_device(device, tags)))
            self._device_rules[device] = found
        return found[1]

    def _board_loss(self, rule: Rule, c: BoardLoss, device: str, status: Status, now: float) -> None:
        extra = status.extra or {}
        dropped, outbox = extra.get("dropped"), extra.get("outbox")
        value = {"dropped": dropped, "outbox": outbox}
        if c.outbox_growing:
            before = self._outbox.get(device)
            if isinstance(outbox, int) and before is not None:
                self._apply(rule, device, outbox > before, value, now)
        elif isinstance(dropped, int):
            self._apply(rule, device, dropped > 0, value, now)

    def _scan(self, now: float) -> None:
        if not any(isinstance(r.condition, NoReadings | Missing) for r in self._rules.all):
            return
        for info in self.facts.devices():
            rules = self._rules_of(info.id).scan
            if not rules:
                continue
            silent_s = None if info.last_seen_ms is None else now - info.last_seen_ms / 1000
            interval_s, missing = _interval_s(info), info.missing
            for rule in rules:
                c = rule.condition
                key = (rule.name, info.id)
                if isinstance(c, NoReadings) and silent_s is not None:
                    truth, value = silent_s > max(c.after_s, 2 * interval_s), {"silent_s": round(silent_s)}
                elif isinstance(c, Missing):
                    truth, value = missing > c.over, {"missing": missing}
                else:
                    continue
                if truth or key in self._active or self._truth.get(key):
                    self._apply(rule, info.id, truth, value, now)

    def _ingest_health(self, now: float) -> None:
        if not self._rules.ingest:
            return
        facts = self.facts.ingest()
        window = self._dead_letters
        window.append((now, facts.dead_letters))
        while window and window[0][0] < now - DEAD_LETTER_WINDOW_S:
            window.popleft()
        rising = facts.dead_letters - window[0][1]
        for rule in self._rules.ingest:
            c = rule.condition
            assert isinstance(c, IngestHealth)
            problems = []
            if c.spool_over_pct is not None and facts.spool_pct > c.spool_over_pct:
                problems.append(f"spool {facts.spool_pct:.0f}% full")
            if c.writer_held and facts.writer_held_s > 0:
                problems.append(f"writer held {facts.writer_held_s:.0f} s")
            if c.dead_letters_over is not None and rising > c.dead_letters_over:
                problems.append(f"{rising} dead letters in a minute")
            value = {"problem": "; ".join(problems) or "healthy", "dead_letters_per_min": rising}
            self._apply(rule, self.facts.instance, bool(problems), value, now)

    # Transitions ----------------------------------------------------------------------------------
    def _apply(self, rule: Rule, device: str, truth: bool | None, value: dict[str, Any], now: float) -> None:
        if truth is None:
            return
        key = (rule.name, device)
        self._truth[key] = truth
        alert = self._active.get(key)
        now_ms = int(now * 1000)
        if truth:
            if alert is None:
                alert_id = self.store.start(rule.name, device, now_ms, value)
                if alert_id is None:  # another process started it: learn its state
                    self._active = {(a.rule, a.device): a for a in self.store.active()}
                    return
                alert = Alert(alert_id, rule.name, device, "pending", now_ms, None, None, value)
                self._active[key] = alert
                self.metrics.add("alert_transitions")
            if alert.state == "pending" and now_ms - alert.started_ms >= rule.for_s * 1000:
                notes = self._notes(rule, device, "firing", alert.started_ms, None, value)
                if self.store.fire(alert.id, now_ms, notes):
                    self.metrics.add("alert_transitions")
                    self.wake()
                self._active[key] = Alert(
                    alert.id, rule.name, device, "firing", alert.started_ms, now_ms, None, value
                )
        elif alert is not None:
            del self._active[key]
            # Another process may have fired the alert since this one last read it as pending: what
            # cannot be cancelled is resolved (the store moves only a firing alert, and only once).
            if alert.state == "pending" and self.store.cancel(alert.id):
                return
            notes = self._notes(rule, device, "resolved", alert.started_ms, now_ms, value)
            if self.store.resolve(alert.id, now_ms, value, notes):
                self.metrics.add("alert_transitions")
                self.wake()

    def _notes(
        self,
        rule: Rule,
        device: str,
        status: str,
        started_ms: int,
        ended_ms: int | None,
        value: dict[str, Any],
    ) -> list[tuple[str, bytes]]:
        body = payload.body(rule, device, status, started_ms, ended_ms, value, self.external_url)
        return [(str(url), body) for url in rule.webhooks] + [(MQTT_TARGET, body)]


def _interval_s(info: DeviceInfo) -> float:
    """The sampling interval the board announced in its status: a board that samples every 10 min is
    not silent after 5."""
    interval = info.status.get("interval_s")
    return float(interval) if isinstance(interval, int | float) and not isinstance(interval, bool) else 0.0


def _past(c: Threshold, low: float, high: float) -> bool:
    """Some value in [low, high] is past the limit."""
    return high > c.above if c.above is not None else c.below is not None and low < c.below


def _threshold(c: Threshold, value: float, was: bool) -> bool | None:
    """True past the limit; False back past it by the hysteresis; None (unchanged) in between."""
    if c.above is not None:
        if value > c.above:
            return True
        return False if value <= c.above - c.hysteresis or not was else None
    assert c.below is not None
    if value < c.below:
        return True
    return False if value >= c.below + c.hysteresis or not was else None
