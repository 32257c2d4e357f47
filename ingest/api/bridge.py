"""The bridge from the pipeline to the API's event bus: what a routed message says becomes an event."""

from __future__ import annotations

import orjson

from ingest.api.events import EventBus
from ingest.pipeline.work import CommandAnswer, Readings, StatusReport, Work


def publish_work(bus: EventBus, work: Work) -> None:
    """Publishes a routed message's readings, status or command result; a rejected one says nothing."""
    match work:
        case Readings(telemetry=telemetry):
            bus.publish_readings(telemetry.device, telemetry.points)
        case StatusReport(device=device, status=status):
            bus.publish_status(
                device,
                {
                    **(status.extra or {}),
                    "online": status.online,
                    "fw": status.fw,
                    "boot": status.boot,
                    "rssi": status.rssi,
                },
            )
        case CommandAnswer(device=device):
            bus.publish_command_result(device, orjson.loads(work.message.payload))
