"""The parts of the service one API instance works with, kept on `app.state.api`."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from fastapi import HTTPException, Request

from ingest.alerts.manage import AlertDesk
from ingest.api.commands import CommandTracker
from ingest.api.config import ApiSettings
from ingest.api.events import EventBus
from ingest.api.ports import DeadLetterReplayer, DeadLetterStore, DeviceDirectory, SeriesReader
from ingest.api.series import BooleanMetrics
from ingest.ota.manage import FirmwareDesk


@dataclass(frozen=True)
class ApiContext:
    reader: SeriesReader
    directory: DeviceDirectory
    bus: EventBus
    settings: ApiSettings
    commands: CommandTracker
    letters: DeadLetterStore
    replayer: DeadLetterReplayer
    alerts: AlertDesk
    firmware: FirmwareDesk
    clock: Callable[[], float] = field(default=time.time)
    booleans: BooleanMetrics = field(default_factory=BooleanMetrics)

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def tracker(self) -> CommandTracker:
        if not self.commands.broker_connected():
            raise HTTPException(503, "commands are unavailable: the service is not connected to the broker")
        return self.commands


def api_context(request: Request) -> ApiContext:
    context: ApiContext = request.app.state.api
    return context
