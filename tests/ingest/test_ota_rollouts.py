"""Rollouts, the decisions: waves start only after the previous one is healthy, offline boards are
offered the update when they come back, and a rollback, a failure or a slow trial halts everything."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ingest.errors import FirmwareError
from ingest.ota.rollouts import (
    DOWNLOAD_S,
    OFFER_EVERY_S,
    DeviceState,
    Member,
    Seen,
    Step,
    WaveSize,
    assign_waves,
    step,
)

V = "0.2.0"
OLD = Seen(online=True, fw="0.1.0")


def members(n: int, canary: int = 1, wave: str = "2") -> list[Member]:
    waves = assign_waves([f"d{i}" for i in range(n)], canary, WaveSize.parse(wave))
    return [Member(d, w, DeviceState.PENDING) for d, w in sorted(waves.items())]


def sent(result: Step, now_ms: int) -> list[Member]:
    """The members after the engine recorded its offers (RolloutStore.claim_offer)."""
    return [
        replace(m, offers=m.offers + 1, offered_ms=now_ms, state=DeviceState.OFFERED)
        if m.device in result.offer
        else m
        for m in result.members
    ]


def test_waves_canary_first_then_counts_or_percentages() -> None:
    assert assign_waves(["c", "a", "b", "d", "e"], 1, WaveSize.parse("2")) == {
        "a": 0, "b": 1, "c": 1, "d": 2, "e": 2,
    }  # fmt: skip
    quarters = assign_waves([f"d{i:02}" for i in range(20)], 0, WaveSize.parse("25%"))
    assert set(quarters.values()) == {0, 1, 2, 3}
    for bad in ("0", "0%", "101%", "x", "-1"):
        with pytest.raises(FirmwareError):
            WaveSize.parse(bad)
    with pytest.raises(FirmwareError):
        assign_waves([], 1, WaveSize.parse("1"))


def test_only_the_canary_is_offered_until_it_is_healthy() -> None:
    group = members(5)
    seen = {m.device: OLD for m in group}
    first = step(V, 60, group, seen, now_ms=0)
    assert first.offer == ["d0"]
    seen["d0"] = Seen(True, V, "trial", V)
    assert step(V, 60, sent(first, 0), seen, now_ms=1000).offer == []
    seen["d0"] = Seen(True, V, "idle", V)
    assert step(V, 60, sent(first, 0), seen, now_ms=2000).offer == ["d1", "d2"]


def test_an_offer_is_repeated_only_after_a_while_and_only_to_boards_online() -> None:
    group = [Member("d0", 0, DeviceState.OFFERED, offers=1, offered_ms=0)]
    group += [Member("d1", 0, DeviceState.PENDING)]
    seen = {"d0": OLD, "d1": Seen(online=False, fw="0.1.0")}
    assert step(V, 60, group, seen, now_ms=1000).offer == []
    assert step(V, 60, group, seen, now_ms=OFFER_EVERY_S * 1000).offer == ["d0"]


def test_a_board_offline_from_the_start_does_not_hold_its_wave_back() -> None:
    group = [Member("d0", 0, DeviceState.HEALTHY), Member("d1", 0, DeviceState.PENDING)]
    group += [Member("d2", 1, DeviceState.PENDING)]
    seen = {"d0": Seen(True, V, "idle", V), "d1": Seen(False, "0.1.0"), "d2": OLD}
    result = step(V, 60, group, seen, now_ms=0)
    assert result.offer == ["d2"] and not result.done
    seen["d1"] = OLD  # back: it gets the update too, and wave 1 goes on
    again = step(V, 60, sent(result, 0), seen, now_ms=OFFER_EVERY_S * 1000)
    assert sorted(again.offer) == ["d1", "d2"]


@pytest.mark.parametrize(
    ("board", "state"),
    [
        (Seen(True, "0.1.0", "rolled_back", V, "crashed 3 times: ImportError"), DeviceState.ROLLED_BACK),
        (Seen(True, "0.1.0", "failed", V, "manifest mismatch"), DeviceState.FAILED),
    ],
)
def test_a_rollback_or_a_failure_halts_the_rollout(board: Seen, state: DeviceState) -> None:
    group = members(3)
    result = step(V, 60, group, {"d0": board, "d1": OLD, "d2": OLD}, now_ms=5)
    assert result.halt is not None and board.reason in result.halt and result.offer == []
    assert result.members[0].state == state


def test_a_trial_that_is_not_healthy_in_time_halts_the_rollout() -> None:
    group = members(2)
    trial = {"d0": Seen(True, V, "trial", V), "d1": OLD}
    started = step(V, 10, group, trial, now_ms=1000)
    assert started.halt is None and started.members[0].trial_ms == 1000
    late = step(V, 10, started.members, trial, now_ms=11_001)
    assert late.members[0].state == DeviceState.TIMEOUT and "within 10 s" in (late.halt or "")


def test_a_board_back_on_the_old_version_without_a_report_is_offered_again() -> None:
    group = [Member("d0", 0, DeviceState.UPDATING, offers=1, offered_ms=0)]
    result = step(V, 60, group, {"d0": OLD}, now_ms=OFFER_EVERY_S * 1000)
    assert result.members[0].state == DeviceState.OFFERED and result.offer == ["d0"]


def test_done_when_every_board_is_healthy_or_skipped() -> None:
    group = [Member("d0", 0, DeviceState.PENDING), Member("d1", 1, DeviceState.SKIPPED)]
    assert step(V, 60, group, {"d0": Seen(True, V, "idle", V)}, now_ms=0).done


def test_a_board_that_starts_but_never_switches_times_out() -> None:
    group = [Member("d0", 0, DeviceState.OFFERED, offers=1, offered_ms=0)]
    downloading = {"d0": Seen(True, "0.1.0", "downloading", V)}
    started = step(V, 60, group, downloading, now_ms=1000)
    assert started.members[0].state == DeviceState.UPDATING and started.members[0].started_ms == 1000
    late = step(V, 60, started.members, downloading, now_ms=1000 + DOWNLOAD_S * 1000 + 1)
    assert late.members[0].state == DeviceState.TIMEOUT and "did not switch" in (late.halt or "")
