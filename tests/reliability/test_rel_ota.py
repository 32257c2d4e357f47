"""Over-the-air updates end to end, as real processes: virtual boards running the real firmware log in
as themselves to a Mosquitto with the provisioned password file and ACL; `sensorfleet serve` answers
their chunk requests and runs the rollout (ticking every 0.2 s); InfluxDB gets the readings.

The bundle is the unix profile's firmware tree without the boot stub, compiled, as `sensorfleet firmware
build` makes it; a scenario that needs a bad app changes a file of it."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reliability.chain import Chain, ChainBoard, chain

from ingest.ota.bundle import STUB_FILES, build_bundle
from ingest.ota.rollouts import RolloutState, WaveSize
from ingest.ota.store import FirmwareStore, RolloutStore
from ingest.provision.firmware_tree import read_tree
from ingest.provision.mpy_compile import compile_modules
from ingest.state.migrate import open_state
from support.boards import FIRMWARE
from support.influx import InfluxDB
from support.procs import wait_until

TICK = {"SENSORFLEET_ROLLOUT_TICK_S": "0.2"}
BOARD = {"interval_s": 0.05, "status_s": 1, "ota_timeout_s": 0.5, "ota_trial_boots": 2, "ota_trial_s": 5}


def app_files(change: Callable[[dict[str, bytes]], None] | None = None) -> dict[str, bytes]:
    files = {p: b for p, b in read_tree(FIRMWARE, "unix").items() if p not in STUB_FILES}
    if change is not None:
        change(files)
    return compile_modules(files)


def publish_bundle(c: Chain, version: str, files: dict[str, bytes]) -> None:
    bundle = build_bundle(version, files)
    FirmwareStore(open_state(c.ingests[0].data_dir)).add(bundle, files, int(time.time() * 1000))


def roll_out(c: Chain, version: str, devices: list[str], canary: int, wave: str, health_s: int = 1) -> int:
    store = RolloutStore(open_state(c.ingests[0].data_dir))
    now = int(time.time() * 1000)
    return store.create(version, devices, version, canary, WaveSize.parse(wave), health_s, now)


def start_running(c: Chain, n: int, **config: Any) -> list[ChainBoard]:
    """n boards that sample until stopped (a large stop_after)."""
    members = [c.add_board(f"dev-{i + 1}", 10**9, **{**BOARD, **config}) for i in range(n)]
    for m in members:
        m.start()
    return members


def device(c: Chain, device_id: str) -> dict[str, Any]:
    return c.ingests[-1].devices().get(device_id, {})


def stored_count(c: Chain, device_id: str) -> int:
    s = c.stored().get(device_id)
    return len(s.points) if s else 0


def rollout_state(c: Chain, rollout_id: int) -> tuple[str, dict[str, str]]:
    store = RolloutStore(open_state(c.ingests[0].data_dir))
    r = store.get(rollout_id)
    assert r is not None
    return str(r.state), {m.device: str(m.state) for m in store.members(rollout_id)}


def test_rollout_to_five_boards_canary_then_waves_of_two(
    tmp_path: Path, influxd: InfluxDB, influx_db: str
) -> None:
    with chain(tmp_path, influxd, influx_db, devices=5) as c:
        c.start_ingest(**TICK)
        boards = start_running(c, 5)
        ids = [m.device_id for m in boards]
        wait_until(lambda: all(device(c, d).get("fw") == "0.1.0" for d in ids), 60, "boards online")
        publish_bundle(c, "0.2.0", app_files())
        rid = roll_out(c, "0.2.0", ids, canary=1, wave="2")
        try:
            wait_until(lambda: rollout_state(c, rid)[0] == RolloutState.DONE, 120, "rollout done")
        except TimeoutError:
            raise AssertionError((rollout_state(c, rid), boards[0].board.console()[-2000:])) from None
        _, members = rollout_state(c, rid)
        assert set(members.values()) == {"healthy"}, members
        assert all(device(c, d)["fw"] == "0.2.0" for d in ids)
        # Readings go on after the update, and nothing is stored twice.
        before = {d: stored_count(c, d) for d in ids}
        wait_until(lambda: all(stored_count(c, d) > before[d] + 5 for d in ids), 30, "readings after")
        for d in ids:
            stamps = [t for t, _ in c.stored()[d].points]
            assert len(stamps) == len(set(stamps)), d
            n = device(c, d)["completeness"]
            assert n["missing"] == 0, (d, n)
        for m in boards:
            assert "CRASH" not in m.board.console(), m.board.console()[-2000:]


def test_app_that_raises_at_import_is_rolled_back_and_the_rollout_halts_after_the_canary(
    tmp_path: Path, influxd: InfluxDB, influx_db: str
) -> None:
    def bad(files: dict[str, bytes]) -> None:
        files["sensorfleet/app.py"] = b"raise RuntimeError('broken build')\n" + files["sensorfleet/app.py"]

    with chain(tmp_path, influxd, influx_db, devices=3) as c:
        c.start_ingest(**TICK)
        boards = start_running(c, 3)
        ids = [m.device_id for m in boards]
        wait_until(lambda: all(device(c, d).get("fw") == "0.1.0" for d in ids), 60, "boards online")
        publish_bundle(c, "0.3.0-bad", app_files(bad))
        rid = roll_out(c, "0.3.0-bad", ids, canary=1, wave="2")
        canary = boards[0]
        # A crash boot ends the process (exit 3), as the chip resets: restarted here like the chip.
        deadline = time.monotonic() + 120
        while rollout_state(c, rid)[0] != RolloutState.HALTED:
            assert time.monotonic() < deadline, (rollout_state(c, rid), canary.board.console()[-3000:])
            if not canary.board.process.running():
                canary.start()
            time.sleep(0.2)
        _, members = rollout_state(c, rid)
        assert members[canary.device_id] == "rolled_back", members
        assert all(members[d] == "pending" for d in ids[1:]), members
        wait_until(lambda: device(c, canary.device_id).get("fw") == "0.1.0", 30, "canary back on 0.1.0")
        console = canary.board.console()
        assert "broken build" in console and "rolling back" in console
        for d in ids[1:]:
            assert device(c, d)["fw"] == "0.1.0"
            assert "ota" not in "".join(m.board.console() for m in boards if m.device_id == d).lower()
