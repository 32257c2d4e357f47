"""The rollout engine: a thread that looks at every running rollout each `tick_s` (ingest.ota.rollouts
decides), records what changed, halts or finishes rollouts, and offers the update to the boards whose
wave has started by publishing an `ota` command. Every process may run one: each change is written only
if no other process made it first, and an offer is sent by the process that recorded it."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson

from ingest.contract import COMMAND_SUFFIX, device_topic
from ingest.metrics import Metrics
from ingest.ota.rollouts import DeviceState, Member, RolloutState, Seen, step
from ingest.ota.store import FirmwareStore, Rollout, RolloutStore

log = logging.getLogger(__name__)

SeenBoards = Callable[[Sequence[str]], Mapping[str, Seen]]
"""Device ids → what each one's newest status says (devices never heard of are left out)."""
Answer = Callable[[str, str], Mapping[str, Any] | None]
"""(device, command id) → the board's result of that command, if it came (the registry's)."""
Publish = Callable[[str, bytes, int], None]


class RolloutEngine:
    def __init__(
        self,
        rollouts: RolloutStore,
        firmware: FirmwareStore,
        seen: SeenBoards,
        answer: Answer,
        publish: Publish,
        metrics: Metrics,
        prefix: str = "sf",
        tick_s: float = 1.0,
        clock: Callable[[], float] = time.time,
    ):
        self.rollouts, self.firmware, self.seen, self.publish = rollouts, firmware, seen, publish
        self.answer = answer
        self.metrics, self.prefix, self.tick_s, self.clock = metrics, prefix, tick_s, clock
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rollouts", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(10)

    def _run(self) -> None:
        while not self._stopping.wait(self.tick_s):
            try:
                self.tick()
            except Exception:  # the state store unreachable, say: the next tick tries again
                log.exception("looking at the rollouts failed; trying again")

    def tick(self) -> None:
        for rollout in self.rollouts.rollouts([RolloutState.RUNNING]):
            self._look_at(rollout)

    def _refused(self, rollout: Rollout, members: Sequence[Member]) -> dict[str, str]:
        """The boards that answered their last offer with an error."""
        refused = {}
        for m in members:
            if m.state == DeviceState.OFFERED and m.offers:
                answer = self.answer(m.device, offer_id(rollout.id, m.offers))
                if answer is not None and answer.get("ok") is False:
                    refused[m.device] = str(answer.get("error") or "no reason given")
        return refused

    def _look_at(self, rollout: Rollout) -> None:
        now_ms = int(self.clock() * 1000)
        members = self.rollouts.members(rollout.id)
        seen = self.seen([m.device for m in members])
        result = step(
            rollout.version, rollout.health_s, members, seen, now_ms, self._refused(rollout, members)
        )
        self.rollouts.save(rollout.id, members, result.members, now_ms)
        running = RolloutState.RUNNING
        if result.halt is not None:
            if self.rollouts.set_state(rollout.id, RolloutState.HALTED, result.halt, now_ms, running):
                log.warning("rollout %d of %s halted: %s", rollout.id, rollout.version, result.halt)
                self.metrics.add("rollouts_halted")
            return
        if result.done:
            if self.rollouts.set_state(rollout.id, RolloutState.DONE, None, now_ms, running):
                log.info("rollout %d of %s done", rollout.id, rollout.version)
            return
        bundle = self.firmware.get(rollout.version)
        if bundle is None:
            why = f"firmware {rollout.version} was removed"
            self.rollouts.set_state(rollout.id, RolloutState.HALTED, why, now_ms, running)
            return
        by_device = {m.device: m for m in result.members}
        for device in result.offer:
            member = by_device[device]
            if not self.rollouts.claim_offer(rollout.id, member, now_ms):
                continue
            command = {
                "id": offer_id(rollout.id, member.offers + 1),
                "op": "ota",
                "args": {"v": bundle.version, "sha256": bundle.sha256, "size": bundle.size},
            }
            self.publish(device_topic(self.prefix, device, COMMAND_SUFFIX), orjson.dumps(command), 1)
            self.metrics.add("ota_offers")


def offer_id(rollout_id: int, offer: int) -> str:
    """The command id of a rollout's `offer`-th offer to a board (so its answer can be found)."""
    return f"ota-{rollout_id}-{offer}"
