"""Writer isolation as a mechanism (design.md §9): whatever one message makes raise after decode, in the
store or the registry, costs that message only (a dead letter with the reason, acknowledged); an outage
of the disk holds the batch unacknowledged, and a hold longer than `hold_max_s` is reported."""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.api.tokens import Scope, TokenStore
from ingest.app import build_app
from ingest.codec.payload import Status, Telemetry
from ingest.deadletters import DeadLetters
from ingest.errors import is_outage
from ingest.metrics import Metrics
from ingest.pipeline.work import Message, Readings, StatusReport, Work
from ingest.pipeline.writer import Writer, WriterConfig
from ingest.points import Point
from ingest.registry import Registry
from ingest.service import IngestService
from ingest.settings import load_settings
from ingest.state.migrate import open_state
from ingest.storage.spool import Spool
from ingest.storage.sqlite import SqliteStore
from support.procs import wait_until


class FlakyRegistry(Registry):
    """The real registry, made to raise for chosen devices: `fail[device]` is raised when it is touched."""

    fail: dict[str, BaseException]

    def set_status(self, device: str, status: Status, received_ms: int, retained: bool = False) -> None:
        if device in self.fail:
            raise self.fail[device]
        super().set_status(device, status, received_ms, retained)

    def record(self, messages: Any) -> int:
        messages = list(messages)
        for t, _ in messages:
            if t.device in self.fail:
                raise self.fail[t.device]
        return super().record(messages)


class Rig:
    def __init__(self, tmp_path: Path, hold_max_s: float = 60.0):
        self.acked: list[str] = []
        self.store = SqliteStore(tmp_path / "telemetry.sqlite")
        self.registry = FlakyRegistry(open_state(tmp_path))
        self.registry.fail = {}
        self.dead = DeadLetters(open_state(tmp_path))
        config = WriterConfig(flush_interval_s=0.05, hold_retry_s=0.05, hold_max_s=hold_max_s)
        self.writer = Writer(
            self.store, Spool(tmp_path / "spool", 1 << 20), self.dead, self.registry, Metrics(), config
        )

    def message(self, topic: str) -> Message:
        return Message(topic, b"{}", 1, lambda: self.acked.append(topic))

    def telemetry(self, device: str, seq: int) -> Work:
        t = Telemetry(device, (Point(device, 1000 + seq, {"v": float(seq), "seq": seq}),), 1, seq)
        return Readings(self.message(f"sf/{device}/telemetry#{seq}"), t)

    def status(self, device: str) -> Work:
        return StatusReport(self.message(f"sf/{device}/status"), device, Status(True, "1.0", 1))

    def stored(self, device: str) -> int:
        return sum(1 for _ in self.store.points(device, 0, 10_000))


def test_any_exception_one_message_causes_costs_that_message_only(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.registry.fail = {"bad": OverflowError("Python int too large to convert to SQLite INTEGER")}
    works = [rig.telemetry("dev-1", i) for i in range(10)]
    works.insert(3, rig.status("bad"))
    works.insert(7, rig.telemetry("bad", 0))
    works.append(rig.status("dev-2"))
    for w in works:
        rig.writer.submit(w)
    rig.writer.start()
    wait_until(lambda: len(rig.acked) == len(works), 20, "every message acknowledged")
    rig.writer.stop()
    assert rig.stored("dev-1") == 10
    assert rig.registry.device("dev-1").received == 10  # counted once, though halves were applied again
    assert rig.registry.device("dev-2").online is True
    letters = rig.dead.recent()
    assert sorted(d.topic for d in letters) == ["sf/bad/status", "sf/bad/telemetry#0"]
    assert all(d.reason.startswith("OverflowError: Python int too large") for d in letters)


def test_an_outage_holds_the_batch_and_a_long_hold_is_reported(tmp_path: Path) -> None:
    rig = Rig(tmp_path, hold_max_s=0.3)
    rig.registry.fail = {"dev-1": OSError(errno.ENOSPC, "No space left on device")}
    rig.writer.submit(rig.telemetry("dev-1", 0))
    rig.writer.submit(rig.status("dev-2"))
    rig.writer.start()
    wait_until(rig.writer.held_too_long, 10, "the hold reported")
    assert rig.acked == [] and rig.dead.count() == 0
    assert "No space left on device" in rig.writer.hold_reason
    rig.registry.fail = {}
    wait_until(lambda: len(rig.acked) == 2, 10, "both acknowledged once the disk is back")
    rig.writer.stop()
    assert rig.writer.held_for() == 0 and not rig.writer.held_too_long()
    assert rig.registry.device("dev-1").received == 1


_ERRORS = st.sampled_from(
    [
        OverflowError("too large"),
        ValueError("bad value"),
        TypeError("bad type"),
        KeyError("k"),
        UnicodeEncodeError("utf-8", "x", 0, 1, "surrogate"),
        sqlite3.IntegrityError("constraint"),
        sqlite3.OperationalError("too many SQL variables"),
        RecursionError("deep"),
    ]
)


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    plan=st.lists(
        st.tuples(st.sampled_from(["telemetry", "status"]), st.booleans()), min_size=1, max_size=30
    ),
    error=_ERRORS,
)
def test_isolation_holds_for_any_mix_of_messages_and_errors(
    tmp_path_factory: Any, plan: list[tuple[str, bool]], error: BaseException
) -> None:
    assert not is_outage(error)
    rig = Rig(tmp_path_factory.mktemp("rig"))
    rig.registry.fail = {"bad": error}
    good = 0
    for i, (kind, bad) in enumerate(plan):
        device = "bad" if bad else "dev-1"
        good += kind == "telemetry" and not bad
        rig.writer.submit(rig.telemetry(device, i) if kind == "telemetry" else rig.status(device))
    rig.writer.start()
    wait_until(lambda: len(rig.acked) == len(plan), 20, "every message acknowledged")
    rig.writer.stop()
    assert rig.stored("dev-1") == good
    assert rig.dead.count() == sum(bad for _, bad in plan)
    info = rig.registry.device("dev-1")
    assert (info.received if info else 0) == good


def test_outages_are_told_from_message_errors() -> None:
    assert is_outage(OSError(errno.EIO, "I/O error"))
    assert is_outage(sqlite3.OperationalError("database or disk is full"))
    assert is_outage(sqlite3.OperationalError("database is locked"))
    assert not is_outage(sqlite3.OperationalError("too many SQL variables"))
    assert not is_outage(OverflowError("Python int too large to convert to SQLite INTEGER"))


def test_a_long_hold_fails_readyz_and_healthz_says_why(tmp_path: Path) -> None:
    service = IngestService(load_settings(data_dir=tmp_path, hold_max_s=0.2))
    flaky = FlakyRegistry(open_state(tmp_path))
    flaky.fail = {"dev-1": OSError(errno.EIO, "Input/output error")}
    service.writer.registry = flaky
    token, _ = TokenStore(open_state(tmp_path)).create(Scope.READ, "probe")
    client = TestClient(build_app(service), headers={"Authorization": f"Bearer {token}"})
    service.writer.start()  # the writer only: no broker in this test
    service.writer.submit(Rig(tmp_path / "rig").status("dev-1"))
    wait_until(service.writer.held_too_long, 10, "the hold reported")
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.json()["writer_held_too_long"] is True
    assert client.get("/healthz").json()["status"].startswith("writer held for ")
    assert "Input/output error" in client.get("/healthz").json()["hold_reason"]
    held = [
        line
        for line in client.get("/metrics").text.splitlines()
        if line.startswith("sensorfleet_writer_held")
    ]
    assert float(held[0].split()[1]) > 0
    flaky.fail = {}
    wait_until(lambda: not service.writer.held_too_long(), 10, "the hold over")
    assert client.get("/healthz").json()["status"] == "ok"
    service.writer.stop()
