"""`/api/v1/stream`: Server-Sent Events of new readings, status changes and command results."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import StreamingResponse

from ingest.api.auth import AUTH_RESPONSES, ReadToken
from ingest.api.context import ApiContext, api_context
from ingest.api.events import EventBus, Subscription
from ingest.api.tokens import Token
from ingest.contract import DEVICE_ID

router = APIRouter(prefix="/api/v1", tags=["stream"], dependencies=[ReadToken], responses=AUTH_RESPONSES)
DISCONNECT_CHECK_S = 1.0


async def _events(
    request: Request, bus: EventBus, sub: Subscription, keepalive_s: float, max_s: float
) -> AsyncIterator[bytes]:
    now = time.monotonic()
    deadline, quiet_since = now + max_s, now
    try:
        # A first line at once tells the client it is subscribed.
        yield b": connected\n\n"
        while (left := deadline - time.monotonic()) > 0:
            # Short waits, so a client that went away is noticed within a second, not at the next write.
            event = await sub.get(min(DISCONNECT_CHECK_S, left))
            if event is not None:
                quiet_since = time.monotonic()
                yield (
                    b"event: " + event.kind.encode() + b"\ndata: " + orjson.dumps(dict(event.data)) + b"\n\n"
                )
            elif await request.is_disconnected():
                return
            elif time.monotonic() - quiet_since >= keepalive_s:
                quiet_since = time.monotonic()
                yield b": keepalive\n\n"
    finally:
        bus.unsubscribe(sub)


@router.get(
    "/stream",
    summary="Server-Sent Events: `reading`, `status`, `command_result`",
    response_class=StreamingResponse,
    responses={
        429: {"description": "this token holds as many event streams as one token may"},
        503: {"description": "as many event streams are open as the server allows"},
        200: {
            "content": {
                "text/event-stream": {
                    "example": 'event: reading\ndata: {"device":"dev-1","ts":1764000000123,'
                    '"values":{"temperature":21.4}}\n\n'
                }
            }
        },
    },
    description="Events from the moment of connecting; a client that reads too slowly loses the oldest. "
    "The stream ends after a while (an hour by default): reconnect.",
)
async def stream(
    request: Request,
    context: Annotated[ApiContext, Depends(api_context)],
    token: Annotated[Token, ReadToken],
    device: Annotated[str | None, Query(pattern=DEVICE_ID.pattern, description="only this device")] = None,
) -> StreamingResponse:
    settings = context.settings
    # No await between counting and subscribing: no other request can take the slot in between.
    if context.bus.subscribers >= settings.max_streams:
        raise HTTPException(503, "too many open event streams; retry later", headers={"Retry-After": "10"})
    if context.bus.subscribers_of(token.id) >= settings.max_streams_per_token:
        raise HTTPException(
            429, "this token has as many event streams open as it may", headers={"Retry-After": "10"}
        )
    sub = context.bus.subscribe(device, owner=token.id)
    return StreamingResponse(
        _events(request, context.bus, sub, settings.stream_keepalive_s, settings.stream_max_s),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
