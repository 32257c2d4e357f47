"""The HTTP face of a running service: health and metrics, the query API with its live event stream,
and the dashboard, composed once for `sensorfleet serve` and `sensorfleet demo`."""

from __future__ import annotations

from functools import partial

from fastapi import FastAPI

from ingest.api.auth import ReadToken
from ingest.api.events import EventBus
from ingest.api.service import api_extension, publish_work
from ingest.app import IngestService
from ingest.dashboard import mount_dashboard


def build_http_app(service: IngestService) -> FastAPI:
    bus = EventBus()
    service.listeners.append(partial(publish_work, bus))
    app = service.http_app([api_extension(bus)], guard=[ReadToken])
    mount_dashboard(app)  # last: it serves `/`, so every API route must already be in place
    return app
