"""The alert engine on a real state database (SQLite and PostgreSQL): transitions, hysteresis, `for`,
restarts and two processes at once, each transition notified exactly once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest

from ingest.alerts.engine import MQTT_TARGET, QUEUE_MAX, AlertEngine, Facts, IngestFacts
from ingest.alerts.manage import AlertDesk
from ingest.alerts.rules import Rule
from ingest.alerts.store import AlertStore
from ingest.alerts.webhook import Webhooks
from ingest.codec.payload import Status
from ingest.metrics import Metrics
from ingest.points import Point
from ingest.registry import BootCompleteness, DeviceInfo
from ingest.state.database import StateDatabase
from ingest.state.migrate import open_state

HOOK = "http://127.0.0.1:9/hook"


@dataclass
class Clock:
    now: float = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class World:
    tags: dict[str, dict[str, str]] = field(default_factory=dict)
    devices: list[DeviceInfo] = field(default_factory=list)
    ingest: IngestFacts = field(default_factory=lambda: IngestFacts(0.0, 0.0, 0))

    def facts(self, instance: str = "ingest:a") -> Facts:
        return Facts(lambda d: self.tags.get(d, {}), lambda: self.devices, lambda: self.ingest, instance)


@pytest.fixture
def state(state_url: str, tmp_path: Path) -> Iterator[StateDatabase]:
    db = open_state(tmp_path, state_url)
    yield db
    db.close()


def engine(state: StateDatabase, world: World, clock: Clock, instance: str = "ingest:a") -> AlertEngine:
    e = AlertEngine(AlertStore(state), world.facts(instance), Metrics(), "http://dash", clock=clock)
    e.refresh()
    return e


def rule(**fields: Any) -> Rule:
    return Rule.model_validate({"webhooks": [HOOK], **fields})


def reading(e: AlertEngine, device: str, value: float, clock: Clock) -> None:
    e.readings(device, [Point(device, int(clock.now * 1000), {"temperature": value})])
    e.drain()


def notes(store: AlertStore) -> list[tuple[str, str, str]]:
    """(status, target, alertname) of every notification written, oldest first."""
    found = []
    for n in reversed(store.notifications(limit=1000)):
        body = orjson.loads(n.body)
        found.append((n.status, n.target, body["alerts"][0]["labels"]["alertname"]))
    return found


HOT = {"name": "hot", "selector": {"devices": ["dev-1"]}, "for_s": 3}
ABOVE_30 = {"kind": "threshold", "metric": "temperature", "above": 30, "hysteresis": 2}


def test_a_threshold_with_for_fires_once_and_resolves_once_without_flapping(state: StateDatabase) -> None:
    store, clock, world = AlertStore(state), Clock(), World()
    store.add_rule(rule(**HOT, condition=ABOVE_30), 0)
    e = engine(state, world, clock)
    reading(e, "dev-1", 31, clock)
    assert [a.state for a in store.active()] == ["pending"]
    clock.now += 2
    e.tick()
    assert [a.state for a in store.active()] == ["pending"] and notes(store) == []
    clock.now += 1.5
    e.tick()
    assert [a.state for a in store.active()] == ["firing"]
    # Around the limit but inside the hysteresis band: no resolve, no new alert.
    for value in (29.5, 30.5, 28.5, 31, 29, 30.2) * 5:
        clock.now += 0.1
        reading(e, "dev-1", value, clock)
    assert [a.state for a in store.active()] == ["firing"]
    reading(e, "dev-1", 27.9, clock)
    assert store.active() == []
    assert notes(store) == [("firing", HOOK, "hot"), ("firing", MQTT_TARGET, "hot"),
                            ("resolved", HOOK, "hot"), ("resolved", MQTT_TARGET, "hot")]  # fmt: skip
    [alert] = store.history()
    assert (alert.state, alert.value["value"]) == ("resolved", 27.9)
    resolved = orjson.loads(store.notifications(limit=1)[0].body)
    assert resolved["status"] == "resolved" and resolved["alerts"][0]["endsAt"] != "0001-01-01T00:00:00Z"


def test_a_condition_that_ends_before_for_is_never_notified(state: StateDatabase) -> None:
    store, clock = AlertStore(state), Clock()
    store.add_rule(rule(**HOT, condition=ABOVE_30), 0)
    e = engine(state, World(), clock)
    reading(e, "dev-1", 35, clock)
    clock.now += 1
    reading(e, "dev-1", 20, clock)
    clock.now += 10
    e.tick()
    assert store.active() == [] and store.history() == [] and notes(store) == []


def test_two_processes_seeing_the_same_readings_notify_each_transition_once(state: StateDatabase) -> None:
    store, clock, world = AlertStore(state), Clock(), World()
    store.add_rule(rule(**HOT, condition=ABOVE_30), 0)
    a, b = engine(state, world, clock, "ingest:a"), engine(state, world, clock, "ingest:b")
    for value, step in ((31, 0), (32, 1), (33, 1), (34, 1.5), (20, 1), (19, 1)):
        clock.now += step
        for e in (a, b):
            reading(e, "dev-1", value, clock)
            e.tick()
    statuses = [(s, t) for s, t, _ in notes(store)]
    assert statuses == [
        ("firing", HOOK),
        ("firing", MQTT_TARGET),
        ("resolved", HOOK),
        ("resolved", MQTT_TARGET),
    ]


def test_a_process_that_last_saw_an_alert_pending_resolves_it_once_another_fired_it(
    state: StateDatabase,
) -> None:
    """On a shared subscription the reading that ends an alert may reach the process that has not
    looked at the store since another one fired it."""
    store, clock, world = AlertStore(state), Clock(), World()
    store.add_rule(rule(**HOT, condition=ABOVE_30), 0)
    a, b = engine(state, world, clock, "ingest:a"), engine(state, world, clock, "ingest:b")
    reading(a, "dev-1", 31, clock)
    reading(b, "dev-1", 32, clock)  # b learns of a's pending alert
    clock.now += 3.5
    a.tick()
    assert [x.state for x in store.active()] == ["firing"]
    reading(b, "dev-1", 27.9, clock)  # before b's next tick
    assert store.active() == []
    assert [(s, t) for s, t, _ in notes(store)] == [
        ("firing", HOOK),
        ("firing", MQTT_TARGET),
        ("resolved", HOOK),
        ("resolved", MQTT_TARGET),
    ]


def test_a_process_new_to_the_condition_keeps_a_known_alert_on_inside_the_band(state: StateDatabase) -> None:
    store, clock, world = AlertStore(state), Clock(), World()
    store.add_rule(rule(**HOT, condition=ABOVE_30), 0)
    a = engine(state, world, clock, "ingest:a")
    reading(a, "dev-1", 31, clock)
    clock.now += 3.5
    a.tick()
    b = engine(state, world, clock, "ingest:b")  # started now: it reads the firing alert, no readings yet
    for value in (29.5, 28.5, 30):
        reading(b, "dev-1", value, clock)
    assert [x.state for x in store.active()] == ["firing"]
    reading(b, "dev-1", 27.9, clock)
    assert store.active() == []


@pytest.mark.parametrize("phase", ["pending", "firing"])
def test_a_restart_neither_loses_an_alert_nor_notifies_it_twice(state: StateDatabase, phase: str) -> None:
    store, clock, world = AlertStore(state), Clock(), World()
    store.add_rule(rule(**HOT, condition=ABOVE_30), 0)
    first = engine(state, world, clock)
    reading(first, "dev-1", 31, clock)
    if phase == "firing":
        clock.now += 4
        first.tick()
    assert [a.state for a in store.active()] == [phase]
    # The process ends; a new one starts from the state store.
    clock.now += 4
    second = engine(state, world, clock)
    second.tick()
    reading(second, "dev-1", 32, clock)
    second.tick()
    assert [a.state for a in store.active()] == ["firing"]
    reading(second, "dev-1", 10, clock)
    assert [s for s, t, _ in notes(store) if t == HOOK] == ["firing", "resolved"]


def test_offline_board_loss_and_outbox_growth_come_from_statuses(state: StateDatabase) -> None:
    store, clock = AlertStore(state), Clock()
    for name, condition in (("gone", {"kind": "offline"}), ("lost", {"kind": "board_loss"}),
                            ("growing", {"kind": "board_loss", "outbox_growing": True})):  # fmt: skip
        store.add_rule(rule(name=name, selector={"all": True}, condition=condition), 0)
    e = engine(state, World(), clock)

    def status(online: bool, **extra: int) -> None:
        e.status("dev-2", Status(online, extra=extra))
        e.drain()

    status(True, dropped=0, outbox=3)
    status(True, dropped=0, outbox=9)
    status(False, dropped=42, outbox=12)
    assert sorted((a.rule, a.state) for a in store.active()) == [
        ("gone", "firing"),
        ("growing", "firing"),
        ("lost", "firing"),
    ]
    lost = next(a for a in store.active() if a.rule == "lost")
    assert lost.value == {"dropped": 42, "outbox": 12}
    body = orjson.loads(next(n.body for n in store.notifications() if n.alert_id == lost.id))
    assert "dropped 42 readings" in body["alerts"][0]["annotations"]["summary"]
    status(True, dropped=0, outbox=2)
    assert store.active() == []


def _device(
    device: str, last_seen_ms: int | None, missing: tuple[int, int] | None = None, interval_s: float = 1
) -> DeviceInfo:
    boots = [BootCompleteness(1, 100, [missing])] if missing else []
    return DeviceInfo(device, True, 0, last_seen_ms, None, None, 1, {"interval_s": interval_s}, 100, 0, boots)


def test_silent_and_incomplete_devices_are_found_by_the_scan(state: StateDatabase) -> None:
    store, clock, world = AlertStore(state), Clock(), World()
    world.tags = {"dev-3": {"site": "north"}}
    store.add_rule(
        rule(
            name="quiet",
            selector={"tag": ["site", "north"]},
            condition={"kind": "no_readings", "after_s": 60},
        ),
        0,
    )
    store.add_rule(rule(name="gaps", selector={"all": True}, condition={"kind": "missing", "over": 10}), 0)
    now_ms = int(clock.now * 1000)
    world.tags["dev-5"] = {"site": "north"}  # samples every 10 min: 2 min of quiet is normal for it
    world.devices = [
        _device("dev-3", now_ms - 120_000, (5, 30)),
        _device("dev-4", now_ms - 120_000),
        _device("dev-5", now_ms - 120_000, interval_s=600),
    ]
    e = engine(state, world, clock)
    e.tick()
    assert sorted((a.rule, a.device) for a in store.active()) == [("gaps", "dev-3"), ("quiet", "dev-3")]
    world.devices = [_device("dev-3", now_ms, (5, 8)), _device("dev-4", now_ms)]
    clock.now += 10
    e.tick()
    assert store.active() == []


def test_the_ingest_s_own_health(state: StateDatabase) -> None:
    store, clock, world = AlertStore(state), Clock(), World()
    store.add_rule(
        rule(name="ingest", condition={"kind": "ingest", "spool_over_pct": 50, "dead_letters_over": 5}), 0
    )
    e = engine(state, world, clock)
    e.tick()
    assert store.active() == []
    world.ingest = IngestFacts(10.0, 0.0, 9)
    clock.now += 5
    e.tick()
    [alert] = store.active()
    assert (alert.device, alert.state, alert.value["problem"]) == (
        "ingest:a",
        "firing",
        "9 dead letters in a minute",
    )
    clock.now += 61
    e.tick()
    assert store.active() == []


def test_a_removed_rule_ends_its_alerts_and_other_rules_keep_theirs(state: StateDatabase) -> None:
    store, clock = AlertStore(state), Clock()
    store.add_rule(rule(**{**HOT, "for_s": 0}, condition=ABOVE_30), 0)
    store.add_rule(
        rule(
            name="cold",
            selector={"devices": ["dev-1"]},
            condition={"kind": "threshold", "metric": "temperature", "below": 40},
        ),
        0,
    )
    e = engine(state, World(), clock)
    reading(e, "dev-1", 35, clock)
    assert sorted(a.rule for a in store.active()) == ["cold", "hot"]
    assert store.remove_rule("hot") and not store.remove_rule("hot")
    e.tick()
    assert [a.rule for a in store.active()] == ["cold"]
    assert [a.state for a in store.history() if a.rule == "hot"] == ["removed"]


def test_no_rules_means_no_work_and_a_full_queue_drops_evaluations_not_readings(state: StateDatabase) -> None:
    clock = Clock()
    e = engine(state, World(), clock)
    reading(e, "dev-1", 99, clock)
    assert e.metrics.get("alert_evaluations_dropped") == 0
    AlertStore(state).add_rule(rule(**HOT, condition=ABOVE_30), 0)
    e.refresh()
    for _ in range(QUEUE_MAX + 5):
        e.readings("dev-1", [Point("dev-1", 0, {"temperature": 1.0})])
    assert e.metrics.get("alert_evaluations_dropped") == 5


def test_a_rate_of_change_between_readings_and_across_messages(state: StateDatabase) -> None:
    store, clock = AlertStore(state), Clock()
    condition = {"kind": "rate", "metric": "temperature", "per_s": 5}
    store.add_rule(rule(name="jump", selector={"devices": ["dev-1"]}, condition=condition), 0)
    e = engine(state, World(), clock)
    t = int(clock.now * 1000)
    e.readings("dev-1", [Point("dev-1", t + 1000 * i, {"temperature": 20.0 + i}) for i in range(5)])
    e.drain()
    assert store.active() == []  # 1 per second
    # From the last reading of the message before: 24 → 40 in 2 s is 8 per second.
    e.readings("dev-1", [Point("dev-1", t + 6000, {"temperature": 40.0})])
    e.drain()
    [alert] = store.active()
    assert (alert.state, alert.value["per_s"]) == ("firing", 8.0)
    e.readings("dev-1", [Point("dev-1", t + 7000, {"temperature": 41.0})])
    e.drain()
    assert store.active() == [] and [a.state for a in store.history()] == ["resolved"]


def test_a_device_that_gains_the_tag_comes_under_the_rule(state: StateDatabase) -> None:
    store, clock, world = AlertStore(state), Clock(), World()
    store.add_rule(rule(name="north", selector={"tag": ["site", "north"]}, condition={"kind": "offline"}), 0)
    e = engine(state, world, clock)
    e.status("dev-6", Status(False))
    e.drain()
    assert store.active() == []
    world.tags["dev-6"] = {"site": "north"}  # as the registry hands out a changed device's tags: anew
    e.status("dev-6", Status(False))
    e.drain()
    assert [(a.rule, a.device) for a in store.active()] == [("north", "dev-6")]


def test_a_rule_added_through_the_desk_is_in_force_for_the_next_message(state: StateDatabase) -> None:
    """Not from the engine's next tick: a board that goes offline right after the rule is added is
    caught."""
    clock = Clock()
    e = engine(state, World(), clock)
    desk = AlertDesk(
        AlertStore(state), lambda metric: True, Webhooks(1.0), "http://dash", on_change=e.rules_changed
    )
    try:
        desk.add(rule(name="gone", selector={"all": True}, condition={"kind": "offline"}))
        e.status("dev-1", Status(False))
        e.drain()
        assert [(a.rule, a.state) for a in AlertStore(state).active()] == [("gone", "firing")]
        assert desk.remove("gone") and not desk.remove("gone")
    finally:
        desk.webhooks.close()


def test_stopping_ends_the_loop_without_waiting_for_its_next_tick(state: StateDatabase) -> None:
    e = AlertEngine(AlertStore(state), World().facts(), Metrics(), "http://dash", tick_s=600)
    e.start()
    time.sleep(0.5)  # past its first tick, waiting for a message or the next one
    e.stop(timeout=5)  # `sensorfleet serve` stops the engine first: a wait here delays every stop
    assert not e._thread.is_alive()
