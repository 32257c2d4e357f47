"""`/api/v1/stream`: Server-Sent Events of new readings, status changes and command results."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from ingest.api.auth import ReadToken
from ingest.api.context import ApiContext, api_context
from ingest.api.events import EventBus, Subscription
from ingest.codec.payload import DEVICE_ID

router = APIRouter(prefix="/api/v1", tags=["stream"], dependencies=[ReadToken])


async def _events(bus: EventBus, sub: Subscription, keepalive_s: float, max_s: float) -> AsyncIterator[bytes]:
    deadline = time.monotonic() + max_s
    try:
        # A first line at once tells the client it is subscribed.
        yield b": connected\n\n"
        while (left := deadline - time.monotonic()) > 0:
            event = await sub.get(min(keepalive_s, left))
            if event is None:
                yield b": keepalive\n\n"
                continue
            yield b"event: " + event.kind.encode() + b"\ndata: " + orjson.dumps(dict(event.data)) + b"\n\n"
    finally:
        bus.unsubscribe(sub)


@router.get(
    "/stream",
    summary="Server-Sent Events: `reading`, `status`, `command_result`",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {
                "text/event-stream": {
                    "example": 'event: reading\ndata: {"device":"dev-1","ts":1764000000123,'
                    '"values":{"temperature":21.4}}\n\n'
                }
            }
        }
    },
    description="Events from the moment of connecting; a client that reads too slowly loses the oldest. "
    "The stream ends after a while (an hour by default): reconnect.",
)
async def stream(
    context: Annotated[ApiContext, Depends(api_context)],
    device: Annotated[str | None, Query(pattern=DEVICE_ID.pattern, description="only this device")] = None,
) -> StreamingResponse:
    settings = context.settings
    sub = context.bus.subscribe(device)
    return StreamingResponse(
        _events(context.bus, sub, settings.stream_keepalive_s, settings.stream_max_s),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
