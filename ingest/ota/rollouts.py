"""Rollouts, the pure part: waves, what a board's status says about its update, and what to do next.

A rollout's devices are split into waves when it starts: the canary (wave 0, `canary` devices), then
waves of `wave` devices (a count, or a percentage of all). A wave is offered the update only when every
earlier wave is healthy: each of its devices runs the new version and has marked it good, but for those
that were offline and never started (they are offered it whenever they come back). A board that rolls
back, fails, or is not healthy within `health_s` of switching halts the rollout.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

from ingest.errors import FirmwareError
from ingest.registry import DeviceInfo, Registry

DOWNLOAD_S = 1800
"""How long a board that started an update has to switch to it: longer, and it times out (a board
that died mid-download and never came back holds its wave no longer)."""
OFFER_EVERY_S = 30
"""How often a board that has not started is offered the update again (commands are not queued for
offline boards, and a board may have missed one)."""


class RolloutState(StrEnum):
    RUNNING = "running"
    HALTED = "halted"
    DONE = "done"


class DeviceState(StrEnum):
    PENDING = "pending"
    """Not offered yet: its wave has not started."""
    OFFERED = "offered"
    UPDATING = "updating"
    """Downloading or staged."""
    TRIAL = "trial"
    """Runs the new version, not yet marked good."""
    HEALTHY = "healthy"
    ROLLED_BACK = "rolled_back"
    FAILED = "failed"
    TIMEOUT = "timeout"
    SKIPPED = "skipped"
    """Rolled back, failed or timed out before the rollout was resumed: left on its version."""


BAD = (DeviceState.ROLLED_BACK, DeviceState.FAILED, DeviceState.TIMEOUT)
WAITING = (DeviceState.PENDING, DeviceState.OFFERED)
FINISHED = (DeviceState.HEALTHY, DeviceState.SKIPPED)


@dataclass(frozen=True)
class WaveSize:
    count: int
    percent: bool = False

    @classmethod
    def parse(cls, text: str) -> WaveSize:
        found = re.fullmatch(r"\s*(\d{1,6})\s*(%?)\s*", text)
        if not found or int(found[1]) < 1 or (found[2] and int(found[1]) > 100):
            raise FirmwareError(f"a wave is a number of devices or a percentage (1%..100%), not {text!r}")
        return cls(int(found[1]), bool(found[2]))

    def of(self, total: int) -> int:
        return max(1, math.ceil(total * self.count / 100)) if self.percent else self.count

    def __str__(self) -> str:
        return f"{self.count}{'%' if self.percent else ''}"


def assign_waves(devices: Sequence[str], canary: int, wave: WaveSize) -> dict[str, int]:
    """Device → its wave, in id order: the first `canary` are wave 0, the rest in waves of `wave`."""
    ordered = sorted(set(devices))
    if not ordered:
        raise FirmwareError("the rollout has no devices")
    if canary < 0:
        raise FirmwareError("the canary is a number of devices (0 for none)")
    waves = {d: 0 for d in ordered[:canary]}
    size, first = wave.of(len(ordered)), 1 if canary else 0
    for i, device in enumerate(ordered[canary:]):
        waves[device] = first + i // size
    return waves


@dataclass(frozen=True)
class Seen:
    """What a board's newest status says."""

    online: bool
    fw: str | None
    ota: str | None = None
    ota_v: str | None = None
    reason: str | None = None


def seen_boards(registry: Registry, devices: Iterable[str]) -> dict[str, Seen]:
    """What the newest status of each of `devices` the registry knows says."""
    return {d.id: _seen(d) for d in registry.devices_named(devices)}


def _seen(device: DeviceInfo) -> Seen:
    status = device.status
    reason = status.get("ota_reason")
    return Seen(
        bool(device.online),
        device.fw,
        status.get("ota"),
        status.get("ota_v"),
        reason if isinstance(reason, str) else None,
    )


@dataclass(frozen=True)
class Member:
    """A device of a rollout, as stored."""

    device: str
    wave: int
    state: DeviceState
    offers: int = 0
    offered_ms: int | None = None
    trial_ms: int | None = None
    done_ms: int | None = None
    reason: str | None = None
    started_ms: int | None = None
    """When its board was first seen downloading."""


@dataclass
class Step:
    """What one look at a running rollout decided."""

    members: list[Member]
    """Every member, with its state as now seen (changed ones are written)."""
    offer: list[str] = field(default_factory=list)
    halt: str | None = None
    done: bool = False


def observe(member: Member, seen: Seen | None, version: str, health_s: int, now_ms: int) -> Member:
    """The member after its board's status `seen` (None: never heard of)."""
    if member.state in (*BAD, DeviceState.SKIPPED) or seen is None:
        return member
    ours = seen.ota_v == version
    if ours and seen.ota in ("rolled_back", "failed"):
        state = DeviceState.ROLLED_BACK if seen.ota == "rolled_back" else DeviceState.FAILED
        return replace(member, state=state, reason=seen.reason or state.value, done_ms=now_ms)
    if seen.fw == version and seen.ota == "trial":
        trial_ms = member.trial_ms or now_ms
        if now_ms - trial_ms > health_s * 1000:
            why = f"not healthy within {health_s} s of switching to {version}"
            return replace(member, state=DeviceState.TIMEOUT, trial_ms=trial_ms, reason=why, done_ms=now_ms)
        return replace(member, state=DeviceState.TRIAL, trial_ms=trial_ms)
    if seen.fw == version:
        if member.state == DeviceState.HEALTHY:
            return member
        return replace(member, state=DeviceState.HEALTHY, done_ms=now_ms, reason=None)
    if ours and seen.ota in ("downloading", "staged"):
        started_ms = member.started_ms or now_ms
        if now_ms - started_ms > DOWNLOAD_S * 1000:
            why = f"did not switch to {version} within {DOWNLOAD_S} s of starting the download"
            return replace(
                member, state=DeviceState.TIMEOUT, started_ms=started_ms, reason=why, done_ms=now_ms
            )
        return replace(member, state=DeviceState.UPDATING, started_ms=started_ms)
    if member.state in (DeviceState.UPDATING, DeviceState.TRIAL, DeviceState.HEALTHY):
        # Back on the old version without a rollback reported (a power cut while staging): offer again.
        return replace(member, state=DeviceState.OFFERED)
    return member


def step(
    version: str,
    health_s: int,
    members: Sequence[Member],
    seen: Mapping[str, Seen],
    now_ms: int,
    refused: Mapping[str, str] | None = None,
) -> Step:
    """Observes every member, then halts, finishes, or picks the boards to offer the update to.
    `refused`: device → the error its board answered the last offer with (an `ota` command it
    cannot run: firmware without the update client, say)."""
    now = [observe(m, seen.get(m.device), version, health_s, now_ms) for m in members]
    for i, m in enumerate(now):
        why = (refused or {}).get(m.device)
        if why is not None and m.state in WAITING:
            reason = f"refused the update: {why}"[:200]
            now[i] = replace(m, state=DeviceState.FAILED, reason=reason, done_ms=now_ms)
    result = Step(now)
    bad = [m for m in now if m.state in BAD]
    if bad:
        first = min(bad, key=lambda m: (m.done_ms or 0, m.device))
        result.halt = f"{first.device}: {first.state.value}: {first.reason}"[:300]
        return result
    if all(m.state in FINISHED for m in now):
        result.done = True
        return result
    started = _started_waves(now, seen)
    for m in now:
        board = seen.get(m.device)
        due = m.offered_ms is None or now_ms - m.offered_ms >= OFFER_EVERY_S * 1000
        if m.wave <= started and m.state in WAITING and board is not None and board.online and due:
            result.offer.append(m.device)
    return result


def _started_waves(members: Sequence[Member], seen: Mapping[str, Seen]) -> int:
    """The newest wave that may be offered: the first one not yet healthy, or a later one already
    offered (a board of an earlier wave coming back does not take the offer back)."""
    offered = max((m.wave for m in members if m.offers), default=0)
    for wave in sorted({m.wave for m in members}):
        in_wave = [m for m in members if m.wave == wave]
        deferred = [m for m in in_wave if m.state in WAITING and not _online(seen.get(m.device))]
        healthy = [m for m in in_wave if m.state in FINISHED]
        if not healthy or len(healthy) + len(deferred) < len(in_wave):
            return max(wave, offered)
    return max(m.wave for m in members)


def _online(board: Seen | None) -> bool:
    return board is not None and board.online
