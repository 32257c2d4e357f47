"""What flows through the pipeline: a received `Message`, and the `Work` the router makes of it.

`Work` is one of five kinds, each carrying its message (to acknowledge it once it is safe):
`Readings` to store and count, a `StatusReport` and a `CommandAnswer` to record in the registry, a
`ChunkRequest` for the firmware chunk server (ingest.ota.server), and a `Rejected` message that goes to
the dead letters with its reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ingest.codec.payload import Status, Telemetry
from ingest.deadletters import DeadLetter


@dataclass(frozen=True, slots=True)
class Message:
    """One MQTT message as received, and how to acknowledge it."""

    topic: str
    payload: bytes
    received_ms: int
    ack: Callable[[], None]
    retained: bool = False

    def dead_letter(self, reason: str) -> DeadLetter:
        return DeadLetter(self.received_ms, self.topic, reason, self.payload, len(self.payload))


@dataclass(frozen=True, slots=True)
class Readings:
    message: Message
    telemetry: Telemetry


@dataclass(frozen=True, slots=True)
class StatusReport:
    message: Message
    device: str
    status: Status


@dataclass(frozen=True, slots=True)
class CommandAnswer:
    """A device's result of a command; the body is the message's payload, validated by the router."""

    message: Message
    device: str
    command_id: str


@dataclass(frozen=True, slots=True)
class Rejected:
    message: Message
    reason: str


@dataclass(frozen=True, slots=True)
class ChunkRequest:
    """A board asking for a piece of firmware: answered by the chunk server, never stored."""

    message: Message
    device: str


Work = Readings | StatusReport | CommandAnswer | ChunkRequest | Rejected
