"""Over-the-air updates on a chain (tests/reliability/chain.py) of virtual boards running the real
firmware, for the end-to-end tests and the benchmark: the bundle as `sensorfleet firmware build` makes
it, a rollout created in the state store as the CLI creates it, and what the ingest then knows."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from reliability.chain import Chain, ChainBoard

from ingest.ota.bundle import STUB_FILES, build_bundle
from ingest.ota.rollouts import WaveSize
from ingest.ota.store import FirmwareStore, RolloutStore
from ingest.provision.firmware_tree import read_tree
from ingest.provision.mpy_compile import compile_modules
from ingest.state.migrate import open_state
from support.boards import FIRMWARE

TICK = {"SENSORFLEET_ROLLOUT_TICK_S": "0.2"}
BOARD = {"interval_s": 0.2, "status_s": 1, "ota_timeout_s": 0.5, "ota_trial_boots": 2, "ota_trial_s": 3}


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


def ota_status(c: Chain, device_id: str) -> dict[str, Any]:
    status: dict[str, Any] = device(c, device_id).get("status", {})
    return status
