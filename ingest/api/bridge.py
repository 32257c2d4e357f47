"""The bridge from the pipeline to the API's event bus: readings and command results as the router
makes them, statuses as the registry stores them, with the status change it recorded (so a client
never has to work out what changed)."""

from __future__ import annotations

import orjson

from ingest.api.events import EventBus
from ingest.codec.payload import Status
from ingest.pipeline.work import CommandAnswer, Readings, Work
from ingest.registry import StatusChange


def publish_work(bus: EventBus, work: Work) -> None:
    """Publishes a routed message's readings or command result; statuses come from the registry."""
    match work:
        case Readings(telemetry=telemetry):
            bus.publish_readings(telemetry.device, telemetry.points)
        case CommandAnswer(device=device):
            bus.publish_command_result(device, orjson.loads(work.message.payload))


def publish_status(bus: EventBus, device: str, status: Status, change: StatusChange | None) -> None:
    """A stored status, and under `change` the entry it added to the device's status history (the
    shape of `GET /devices/{id}/status-history`), or null."""
    bus.publish_status(
        device,
        {
            **(status.extra or {}),
            "online": status.online,
            "fw": status.fw,
            "boot": status.boot,
            "rssi": status.rssi,
            "change": None
            if change is None
            else {
                "at": change.at_ms,
                "online": change.online,
                "fw": change.fw,
                "boot": change.boot,
                "changed": list(change.changed),
                "retained": change.retained,
            },
        },
    )
