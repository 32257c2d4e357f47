"""The rollout engine and the chunk server on a real state store, with the MQTT side recorded: offers go
to the canary, then to the next wave once it is healthy, once per board even with two processes; a
rollback halts; a board gets chunks only of a version offered to it."""

from __future__ import annotations

import functools
from pathlib import Path

import orjson
import pytest

from ingest.codec.payload import Status
from ingest.metrics import Metrics
from ingest.ota.bundle import build_bundle
from ingest.ota.chunks import HEADER
from ingest.ota.engine import RolloutEngine
from ingest.ota.rollouts import OFFER_EVERY_S, RolloutState, WaveSize, seen_boards
from ingest.ota.server import OFFER_CACHE_S, ChunkServer
from ingest.ota.store import FirmwareStore, RolloutStore
from ingest.registry import Registry
from ingest.state.migrate import open_state

FILES = {"sensorfleet/app.py": b"print('0.2.0')\n" * 200}
BOARDS = ["d0", "d1", "d2"]


class Fleet:
    def __init__(self, data_dir: Path) -> None:
        self.state = open_state(data_dir)
        self.registry = Registry(self.state)
        self.firmware, self.rollouts = FirmwareStore(self.state), RolloutStore(self.state)
        self.sent: list[tuple[str, bytes, int]] = []
        self.now = 1000.0
        self.metrics = Metrics()
        self.bundle = build_bundle("0.2.0", FILES)
        self.firmware.add(self.bundle, FILES, 0)
        for device in BOARDS:
            self.report(device, fw="0.1.0")

    def report(self, device: str, **status: object) -> None:
        fields = {k: v for k, v in status.items() if k != "fw"}
        self.registry.set_status(device, Status(online=True, fw=str(status["fw"]), extra=fields), 1000)

    def engine(self) -> RolloutEngine:
        publish = lambda topic, payload, qos: self.sent.append((topic, payload, qos))  # noqa: E731
        return RolloutEngine(
            self.rollouts,
            self.firmware,
            functools.partial(seen_boards, self.registry),
            self.registry.command_result,
            publish,
            self.metrics,
            clock=lambda: self.now,
        )

    def offered_to(self) -> list[str]:
        found = [
            topic.split("/")[1] for topic, payload, _ in self.sent if orjson.loads(payload)["op"] == "ota"
        ]
        self.sent.clear()
        return found


@pytest.fixture
def fleet(tmp_path: Path) -> Fleet:
    return Fleet(tmp_path / "data")


def test_the_canary_then_the_next_wave_each_board_offered_once_by_two_processes(fleet: Fleet) -> None:
    rollout = fleet.rollouts.create("0.2.0", BOARDS, "all devices", 1, WaveSize.parse("2"), 60, 0)
    first, second = fleet.engine(), fleet.engine()
    first.tick()
    second.tick()
    sent = list(fleet.sent)
    assert fleet.offered_to() == ["d0"]
    command = orjson.loads(sent[0][1])
    assert (sent[0][0], sent[0][2]) == ("sf/d0/cmd", 1)
    assert command["args"] == {"v": "0.2.0", "sha256": fleet.bundle.sha256, "size": fleet.bundle.size}
    fleet.report("d0", fw="0.2.0", ota="trial", ota_v="0.2.0")
    first.tick()
    assert fleet.offered_to() == []
    fleet.report("d0", fw="0.2.0", ota="idle", ota_v="0.2.0")
    first.tick()
    second.tick()
    assert sorted(fleet.offered_to()) == ["d1", "d2"]
    fleet.now += OFFER_EVERY_S
    first.tick()
    assert sorted(fleet.offered_to()) == ["d1", "d2"]  # not started yet: offered again
    for device in ("d1", "d2"):
        fleet.report(device, fw="0.2.0", ota="idle", ota_v="0.2.0")
    first.tick()
    found = fleet.rollouts.get(rollout)
    assert found is not None and found.state == RolloutState.DONE


def test_a_rollback_halts_the_rollout_and_nothing_more_is_offered(fleet: Fleet) -> None:
    rollout = fleet.rollouts.create("0.2.0", BOARDS, "all devices", 1, WaveSize.parse("2"), 60, 0)
    engine = fleet.engine()
    engine.tick()
    fleet.offered_to()
    fleet.report("d0", fw="0.1.0", ota="rolled_back", ota_v="0.2.0", ota_reason="crashed 3 times")
    engine.tick()
    found = fleet.rollouts.get(rollout)
    assert found is not None and found.state == RolloutState.HALTED
    assert found.reason == "d0: rolled_back: crashed 3 times"
    fleet.now += OFFER_EVERY_S * 10
    engine.tick()
    assert fleet.offered_to() == [] and fleet.metrics.get("rollouts_halted") == 1


def test_a_board_that_cannot_run_the_update_fails_and_halts_the_rollout(fleet: Fleet) -> None:
    """A firmware without the update client answers the offer with an error."""
    rollout = fleet.rollouts.create("0.2.0", BOARDS, "all devices", 1, WaveSize.parse("2"), 60, 0)
    engine = fleet.engine()
    engine.tick()
    assert fleet.offered_to() == ["d0"]
    refusal = orjson.dumps({"id": "ota-1-1", "ok": False, "error": 'unknown op "ota" (ping, set)'})
    fleet.registry.record_command_result("d0", "ota-1-1", refusal, 2000)
    engine.tick()
    found = fleet.rollouts.get(rollout)
    assert found is not None and found.state == RolloutState.HALTED
    assert found.reason == 'd0: failed: refused the update: unknown op "ota" (ping, set)'
    assert fleet.offered_to() == []


def test_chunks_only_of_a_version_offered_to_the_asking_board(fleet: Fleet) -> None:
    fleet.rollouts.create("0.2.0", ["d0"], "devices d0", 1, WaveSize.parse("1"), 60, 0)
    clock = [0.0]
    server = ChunkServer(
        fleet.firmware, fleet.rollouts, lambda *a: fleet.sent.append(a), fleet.metrics, clock=lambda: clock[0]
    )
    ask = orjson.dumps({"v": "0.2.0", "file": "sensorfleet/app.py", "off": 0, "id": 3})
    server.serve("d0", ask)  # not offered yet: the engine has not run
    fleet.engine().tick()
    fleet.sent.clear()
    clock[0] += OFFER_CACHE_S + 1  # the server remembers a board's right (or none) this long
    server.serve("d0", ask)
    server.serve("d1", ask)
    (topic_a, answer_a, qos_a), (topic_b, answer_b, _) = fleet.sent
    assert (topic_a, qos_a, HEADER.unpack(answer_a[:12])[1]) == ("sf/d0/ota/data", 0, 0)
    assert answer_a[12:] == FILES["sensorfleet/app.py"][:1024]
    assert topic_b == "sf/d1/ota/data" and HEADER.unpack(answer_b[:12])[1] == 1 and len(answer_b) == 12
    assert fleet.metrics.get("ota_chunks_sent") == 1 and fleet.metrics.get("ota_requests_refused") == 2
