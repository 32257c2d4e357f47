"""What the CLI and the API do with firmware: build and remove bundles, start, halt and resume rollouts,
and read how one goes. Both call this one desk, so they refuse and answer alike."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from ingest.errors import FirmwareError
from ingest.ota.bundle import build_bundle, check_manifest
from ingest.ota.rollouts import BAD, DeviceState, Member, RolloutState, Seen, WaveSize, seen_boards
from ingest.ota.store import BundleInfo, FirmwareStore, Rollout, RolloutStore
from ingest.registry import Registry

MAX_HEALTH_S = 7 * 86_400


@dataclass(frozen=True)
class RolloutView:
    rollout: Rollout
    members: list[Member]
    seen: Mapping[str, Seen]

    def counts(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for m in self.members:
            found[m.state.value] = found.get(m.state.value, 0) + 1
        return found


class FirmwareDesk:
    def __init__(
        self,
        firmware: FirmwareStore,
        rollouts: RolloutStore,
        registry: Registry,
        clock: Callable[[], float] = time.time,
    ):
        self.firmware, self.rollouts, self.registry, self.clock = firmware, rollouts, registry, clock

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    # Bundles ------------------------------------------------------------------------------------
    def add_bundle(
        self, version: str, contents: Mapping[str, bytes], manifest: object | None = None
    ) -> BundleInfo:
        """Stores the bundle of `contents`; with `manifest` (an uploaded one, parsed), only if it says
        what the files are. FirmwareError (or NameTakenError) and nothing stored otherwise."""
        bundle = build_bundle(version, contents)
        if manifest is not None:
            check_manifest(bundle, manifest)
        now = self._now_ms()
        self.firmware.add(bundle, contents, now)
        return BundleInfo(bundle.version, bundle.sha256, bundle.size, len(bundle.files), now)

    def bundles(self) -> list[BundleInfo]:
        return self.firmware.bundles()

    def remove_bundle(self, version: str) -> bool:
        return self.firmware.remove(version)

    # Rollouts -----------------------------------------------------------------------------------
    def start(
        self,
        version: str,
        devices: Sequence[str] = (),
        tag: tuple[str, str] | None = None,
        every: bool = False,
        canary: int = 1,
        wave: str = "10%",
        health_s: int = 300,
    ) -> Rollout:
        """A rollout of `version` to the devices named, those with tag `tag`, or `every` one known."""
        if self.firmware.get(version) is None:
            raise FirmwareError(f"no firmware {version}: build it first (sensorfleet firmware build)")
        if sum((bool(devices), tag is not None, every)) != 1:
            raise FirmwareError("name the devices, a tag or all devices (one of them)")
        if not 1 <= health_s <= MAX_HEALTH_S:
            raise FirmwareError(f"the health time is 1..{MAX_HEALTH_S} s")
        size = WaveSize.parse(wave)
        if devices:
            known = {d.id for d in self.registry.devices_named(devices)}
            unknown = sorted(set(devices) - known)
            if unknown:
                raise FirmwareError(f"unknown devices: {', '.join(unknown[:10])}")
            chosen, target = sorted(known), "devices " + ", ".join(sorted(known)[:20])
        elif tag is not None:
            key, value = tag
            chosen = [d.id for d in self.registry.devices() if d.tags.get(key) == value]
            target = f"tag {key}={value}"
        else:
            chosen, target = [d.id for d in self.registry.devices()], "all devices"
        if not chosen:
            raise FirmwareError(f"no device matches ({target})")
        busy = self._busy(chosen)
        if busy:
            raise FirmwareError(f"already in a rollout that is not done: {', '.join(busy[:10])}")
        rollout_id = self.rollouts.create(version, chosen, target, canary, size, health_s, self._now_ms())
        found = self.rollouts.get(rollout_id)
        assert found is not None
        return found

    def _busy(self, devices: Sequence[str]) -> list[str]:
        wanted, busy = set(devices), set()
        for rollout in self.rollouts.rollouts([RolloutState.RUNNING, RolloutState.HALTED]):
            busy |= wanted & {m.device for m in self.rollouts.members(rollout.id)}
        return sorted(busy)

    def list(self) -> list[Rollout]:
        return self.rollouts.rollouts()

    def view(self, rollout_id: int) -> RolloutView | None:
        rollout = self.rollouts.get(rollout_id)
        if rollout is None:
            return None
        members = self.rollouts.members(rollout_id)
        seen = seen_boards(self.registry, [m.device for m in members])
        return RolloutView(rollout, members, seen)

    def halt(self, rollout_id: int, reason: str = "halted by an operator") -> Rollout:
        self._move(rollout_id, RolloutState.RUNNING, RolloutState.HALTED, reason)
        return self._get(rollout_id)

    def resume(self, rollout_id: int) -> Rollout:
        """Runs a halted rollout again; boards that rolled back, failed or timed out are skipped (left
        on their version), the rest carry on where they were."""
        members = self.rollouts.members(rollout_id)
        skipped = [
            Member(
                m.device, m.wave, DeviceState.SKIPPED, m.offers, m.offered_ms, m.trial_ms, m.done_ms, m.reason
            )
            if m.state in BAD
            else m
            for m in members
        ]
        self._move(rollout_id, RolloutState.HALTED, RolloutState.RUNNING, None)
        self.rollouts.save(rollout_id, members, skipped, self._now_ms())
        return self._get(rollout_id)

    def _move(self, rollout_id: int, expect: RolloutState, to: RolloutState, reason: str | None) -> None:
        rollout = self._get(rollout_id)
        if rollout.state != expect or not self.rollouts.set_state(
            rollout_id, to, reason, self._now_ms(), expect
        ):
            raise FirmwareError(f"rollout {rollout_id} is {rollout.state.value}, not {expect.value}")

    def _get(self, rollout_id: int) -> Rollout:
        found = self.rollouts.get(rollout_id)
        if found is None:
            raise LookupError(f"no rollout {rollout_id}")
        return found

    def fleet_versions(self) -> dict[str, int]:
        """How many known devices report each firmware version (`unknown` for none)."""
        counts: dict[str, int] = {}
        for d in self.registry.devices():
            counts[d.fw or "unknown"] = counts.get(d.fw or "unknown", 0) + 1
        return dict(sorted(counts.items()))
