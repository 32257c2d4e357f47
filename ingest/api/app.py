"""The query API on a FastAPI app: `install_api` adds it to the service's app, `create_api` builds a
standalone one (with its own `/healthz`)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import NotRequired, TypedDict, Unpack

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse

from ingest.api.commands import CommandTracker
from ingest.api.config import ApiSettings
from ingest.api.context import ApiContext
from ingest.api.docs import install_docs, new_app
from ingest.api.events import EventBus
from ingest.api.headers import SecurityHeaders
from ingest.api.ports import CommandResults, DeviceDirectory, MessagePublisher, SeriesReader
from ingest.api.ratelimit import RateLimiter
from ingest.api.routes import commands, devices, series, stream
from ingest.api.tokens import TokenStore
from ingest.errors import PermanentStoreError, QueryError, TransientStoreError

log = logging.getLogger(__name__)

DESCRIPTION = """\
Every endpoint except `/healthz` needs `Authorization: Bearer <token>` (this document too, unless
`SENSORFLEET_API_DOCS=public`); create tokens with
`sensorfleet token create --scope read|command|admin`. Scopes nest: admin ⊇ command ⊇ read.
Each token may make `rate_burst` requests at once and `rate_per_s` per second on average (429 with
`Retry-After` beyond); a client address that fails to authenticate `auth_failures` times gets 429 for
every request until it has waited. Invalid input answers 422 with a message. Times are epoch milliseconds.
"""


class ApiParts(TypedDict):
    """What the API is built from. Without `publisher` (no broker connection) commands answer 503."""

    reader: SeriesReader
    directory: DeviceDirectory
    tokens: TokenStore
    bus: EventBus
    publisher: NotRequired[MessagePublisher | None]
    results: NotRequired[CommandResults | None]
    topic_prefix: NotRequired[str]
    settings: NotRequired[ApiSettings]
    clock: NotRequired[Callable[[], float]]


def install_api(app: FastAPI, **parts: Unpack[ApiParts]) -> None:
    """Adds the API's routes, error handlers and (when origins are set) CORS to `app`."""
    settings = parts.get("settings") or ApiSettings()
    clock = parts.get("clock", time.time)
    bus, publisher = parts["bus"], parts.get("publisher")
    tracker = None
    if publisher is not None:
        tracker = CommandTracker(
            publisher,
            bus,
            parts.get("results"),
            parts.get("topic_prefix", "sf"),
            settings.command_timeout_s,
            clock=clock,
        )
    app.state.api = ApiContext(parts["reader"], parts["directory"], bus, settings, tracker, clock)
    app.state.tokens = parts["tokens"]
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
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
        )
    for module in (devices, series, stream, commands):
        app.include_router(module.router)
    install_docs(app, settings.docs)
    app.add_exception_handler(QueryError, _unprocessable)
    app.add_exception_handler(PermanentStoreError, _store_refused)
    app.add_exception_handler(TransientStoreError, _unavailable)


def create_api(**parts: Unpack[ApiParts]) -> FastAPI:
    """A standalone app: the API (`install_api`'s keyword arguments) and a `/healthz`."""
    app = new_app()

    @app.get("/healthz", tags=["health"], summary="The process is up (no token needed)")
    def healthz() -> dict[str, bool]:
        return {"ok": True}

    install_api(app, **parts)
    return app


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
