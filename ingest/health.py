"""The service's health as data: what `/healthz` and `/readyz` report and what needs an operator."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Health:
    broker_connected: bool
    store_ok: bool
    state_ok: bool
    """The state database (registry, tokens, dead letters) answers."""
    spool_full: bool
    spool_batches: int
    writer_held_s: float
    """How long the writer has held a batch unacknowledged because the store or the disk failed."""
    writer_held_too_long: bool
    hold_reason: str

    @property
    def ready(self) -> bool:
        held = self.spool_full or self.writer_held_too_long
        return self.broker_connected and self.store_ok and self.state_ok and not held

    @property
    def problem(self) -> str | None:
        """What needs an operator, in words; None when nothing does."""
        if self.spool_full:
            return "spool full: not acknowledging"
        if self.writer_held_too_long:
            return f"writer held for {self.writer_held_s:.0f} s: {self.hold_reason}"
        return None
