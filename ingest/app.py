"""The one HTTP app builder: `sensorfleet serve`, `sensorfleet demo`, the tests and the benchmarks all
run the app `build_app` makes of a service.

Health and metrics (`/readyz` and `/metrics` behind a read token, `/healthz` open), the query API with
its live event stream fed by the service's pipeline, and the dashboard.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial

from fastapi import FastAPI

from ingest.api.auth import ReadToken
from ingest.api.bridge import publish_status, publish_work
from ingest.api.config import ApiSettings
from ingest.api.dashboard import mount_dashboard
from ingest.api.docs import new_app
from ingest.api.events import EventBus
from ingest.api.health import install_health
from ingest.api.install import ApiParts, install_api
from ingest.api.tokens import TokenStore
from ingest.service import IngestService


def build_app(
    service: IngestService,
    settings: ApiSettings | None = None,
    clock: Callable[[], float] = time.time,
) -> FastAPI:
    """`settings` default to the `SENSORFLEET_API_*` environment; `clock` is what the API calls now."""
    bus = EventBus()
    service.listeners.append(partial(publish_work, bus))
    service.registry.status_listeners.append(partial(publish_status, bus))
    app = new_app()
    install_health(app, service, guard=[ReadToken])
    install_api(
        app,
        ApiParts(
            reader=service.store,
            directory=service.registry,
            tokens=TokenStore(service.state),
            bus=bus,
            publisher=service,
            results=service.registry,
            letters=service.dead_letters,
            replayer=service.replayer,
            alerts=service.alert_desk,
            firmware=service.firmware_desk,
            topic_prefix=service.settings.topic_prefix,
            settings=settings or ApiSettings(),
            clock=clock,
        ),
    )
    mount_dashboard(app)  # last: it serves `/`, so every other route must already be in place
    return app
