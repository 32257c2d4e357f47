"""The API inside the ingest service: the HTTP extension `sensorfleet serve` installs, and the bridge
from the pipeline's routed messages to the event bus."""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson
from fastapi import FastAPI

from ingest.api.app import install_api
from ingest.api.config import ApiSettings
from ingest.api.events import EventBus
from ingest.api.tokens import TokenStore
from ingest.writer import Work

if TYPE_CHECKING:
    from ingest.app import HttpExtension, IngestService


def publish_work(bus: EventBus, work: Work) -> None:
    """Publishes what a routed message says: its readings, a status change or a command result."""
    if work.telemetry is not None:
        bus.publish_readings(work.telemetry.device, work.telemetry.points)
    elif work.status is not None:
        device, status = work.status
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
    elif work.command_result is not None:
        device, _ = work.command_result
        bus.publish_command_result(device, orjson.loads(work.message.payload))


def api_extension(bus: EventBus, settings: ApiSettings | None = None) -> HttpExtension:
    """Installs the query API on the service's app, over the service's store, registry and broker link."""

    def extend(app: FastAPI, service: IngestService) -> None:
        install_api(
            app,
            reader=service.store,
            directory=service.registry,
            tokens=TokenStore(service.settings.data_dir),
            bus=bus,
            publisher=service,
            results=service.registry,
            topic_prefix=service.settings.topic_prefix,
            settings=settings or ApiSettings(),
        )

    return extend
