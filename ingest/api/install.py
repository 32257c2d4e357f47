"""Installs the query API (routes, error handlers, security headers, CORS, the OpenAPI document) on
the app `ingest.app.build_app` builds."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse

from ingest.alerts.manage import AlertDesk
from ingest.api.commands import CommandTracker
from ingest.api.config import ApiSettings
from ingest.api.context import ApiContext
from ingest.api.docs import install_docs
from ingest.api.events import EventBus
from ingest.api.headers import SecurityHeaders
from ingest.api.ports import (
    CommandResults,
    DeadLetterReplayer,
    DeadLetterStore,
    DeviceDirectory,
    MessagePublisher,
    SeriesReader,
)
from ingest.api.ratelimit import RateLimiter
from ingest.api.routes import alerts, commands, deadletters, devices, firmware, series, stream
from ingest.api.tokens import TokenStore
from ingest.errors import PermanentStoreError, QueryError, StateDatabaseError, TransientStoreError, is_outage
from ingest.ota.manage import FirmwareDesk

log = logging.getLogger(__name__)

DESCRIPTION = """\
Every endpoint except `/healthz` needs `Authorization: Bearer <token>` (this document too, unless
`SENSORFLEET_API_DOCS=public`); create tokens with
`sensorfleet token create --scope read|command|admin`. Scopes nest: admin ⊇ command ⊇ read.
Each token may make `rate_burst` requests at once and `rate_per_s` per second on average (429 with
`Retry-After` beyond); a client address that fails to authenticate `auth_failures` times gets 429 for
every request until it has waited. Invalid input answers 422 with a message. Times are epoch milliseconds.
"""


@dataclass(frozen=True)
class ApiParts:
    """What the API is built from: the service's parts, as the protocols of `ingest.api.ports`."""

    reader: SeriesReader
    directory: DeviceDirectory
    tokens: TokenStore
    bus: EventBus
    publisher: MessagePublisher
    results: CommandResults
    letters: DeadLetterStore
    replayer: DeadLetterReplayer
    alerts: AlertDesk
    firmware: FirmwareDesk
    topic_prefix: str
    settings: ApiSettings
    clock: Callable[[], float] = time.time


def install_api(app: FastAPI, parts: ApiParts) -> None:
    """Adds the API's routes, error handlers and (when origins are set) CORS to `app`."""
    settings = parts.settings
    tracker = CommandTracker(
        parts.publisher,
        parts.bus,
        parts.results,
        parts.topic_prefix,
        settings.command_timeout_s,
        clock=parts.clock,
    )
    app.state.api = ApiContext(
        parts.reader,
        parts.directory,
        parts.bus,
        settings,
        tracker,
        parts.letters,
        parts.replayer,
        parts.alerts,
        parts.firmware,
        parts.clock,
    )
    app.state.tokens = parts.tokens
    app.state.limiter = RateLimiter(settings.rate_per_s, settings.rate_burst)
    app.state.auth_failures = RateLimiter(
        settings.auth_failures / settings.auth_failure_window_s, settings.auth_failures
    )
    app.description = DESCRIPTION
    app.add_middleware(SecurityHeaders)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )
    for router in (
        devices.router,
        series.router,
        stream.router,
        commands.router,
        *deadletters.routers,
        alerts.router,
        firmware.router,
    ):
        app.include_router(router)
    install_docs(app, settings.docs)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(QueryError, _unprocessable)
    app.add_exception_handler(PermanentStoreError, _store_refused)
    app.add_exception_handler(TransientStoreError, _unavailable)
    app.add_exception_handler(StateDatabaseError, _state_unavailable)


async def _invalid_request(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422 without the `input` it echoes: a body of `NaN` or `Infinity` (which Python's JSON
    parser takes) cannot be encoded in a JSON answer, and would make FastAPI's own handler a 500."""
    assert isinstance(exc, RequestValidationError)
    errors = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
    return JSONResponse({"detail": errors}, 422)


async def _unprocessable(request: Request, exc: Exception) -> JSONResponse:
    # Shaped like FastAPI's own validation errors, so clients read every 422 the same way.
    return JSONResponse({"detail": [{"loc": ["query"], "msg": str(exc), "type": "value_error"}]}, 422)


async def _store_refused(request: Request, exc: Exception) -> JSONResponse:
    # The store's own words are about its internals, not about the request: they go to the log only.
    log.warning("the store refused the query of %s: %s", request.url.path, exc)
    return await _unprocessable(request, QueryError("the store could not answer this query"))


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    headers = {"Retry-After": "5"}
    return JSONResponse({"detail": f"the store is unavailable: {exc}"}, status_code=503, headers=headers)


async def _state_unavailable(request: Request, exc: Exception) -> JSONResponse:
    if not is_outage(exc):
        raise exc  # a bug, not an outage: a 500 and a traceback in the log
    log.warning("the state database is unavailable (%s): %s", request.url.path, type(exc).__name__)
    headers = {"Retry-After": "5"}
    return JSONResponse({"detail": "the state database is unavailable"}, status_code=503, headers=headers)
