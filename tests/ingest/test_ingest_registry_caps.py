"""What one device can make the registry keep is capped (design.md §9): its metric names (a reading
bringing new names past the cap is a dead letter, the names already in use go on) and its command
results (the newest ones kept)."""

from __future__ import annotations

from pathlib import Path

import orjson

from ingest.codec.payload import Limits
from ingest.metrics import Metrics
from ingest.pipeline.router import Router
from ingest.pipeline.work import Message, Readings, Rejected
from ingest.registry import Registry
from ingest.state.migrate import open_state


def message(topic: str, doc: object) -> Message:
    return Message(topic, orjson.dumps(doc), 1_764_000_000_000, lambda: None)


def test_a_device_may_use_at_most_max_metrics_names(state_url: str, tmp_path: Path) -> None:
    registry = Registry(open_state(tmp_path, state_url), max_metrics=10)
    router = Router("sf", Limits(), registry, Metrics())
    first = router.route(message("sf/dev-1/telemetry", {f"m{i}": 1.0 for i in range(8)}))
    assert not isinstance(first, Rejected)
    over = router.route(message("sf/dev-1/telemetry", {"m0": 1.0, "n1": 1.0, "n2": 1.0, "n3": 1.0}))
    assert isinstance(over, Rejected) and "more than 10 metric names" in over.reason
    assert isinstance(
        router.route(message("sf/dev-1/telemetry", {"m0": 2.0, "n1": 1.0, "n2": 1.0})), Readings
    )
    assert isinstance(
        router.route(message("sf/dev-2/telemetry", {f"x{i}": 1.0 for i in range(10)})), Readings
    )
    assert registry.claim_metrics("dev-1", {"m0", "brand_new"}) == {"brand_new"}

    # Names stored with counted telemetry survive a restart.
    assert first.telemetry is not None
    registry.record([(first.telemetry, 1)])
    again = Registry(open_state(tmp_path, state_url), max_metrics=10)
    info = again.device("dev-1")
    assert info is not None and info.metrics == tuple(sorted(f"m{i}" for i in range(8)))


def test_command_results_keep_the_newest_per_device(state_url: str, tmp_path: Path) -> None:
    registry = Registry(open_state(tmp_path, state_url), command_results_kept=5)
    for i in range(12):
        registry.record_command_result("dev-1", f"c{i}", orjson.dumps({"id": f"c{i}", "ok": True}), i)
    registry.record_command_result("dev-2", "c0", b'{"id":"c0","ok":true}', 0)
    assert [registry.command_result("dev-1", f"c{i}") is not None for i in range(12)] == [False] * 7 + [
        True
    ] * 5
    assert registry.command_result("dev-2", "c0") == {"id": "c0", "ok": True}
    # The same id again replaces the old result and counts as the newest.
    registry.record_command_result("dev-1", "c7", b'{"id":"c7","ok":false}', 99)
    registry.record_command_result("dev-1", "c12", b'{"id":"c12","ok":true}', 100)
    assert registry.command_result("dev-1", "c7") == {"id": "c7", "ok": False}
    assert registry.command_result("dev-1", "c8") is None
