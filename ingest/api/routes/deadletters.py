"""`/api/v1/dead-letters`: the messages that could not be stored; list, show, purge and replay them.

Payloads are device-supplied bytes and may hold anything a board was told to send: they are for
admin tokens only, as base64 with a text preview when they are valid UTF-8. A read token sees the
summary (counts and the newest reasons, no payloads), which the dashboard shows.
"""

from __future__ import annotations

import base64
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query

from ingest.api.auth import AUTH_RESPONSES, AdminToken, ReadToken
from ingest.api.context import ApiContext, api_context
from ingest.api.routes.devices import MAX_PAGE
from ingest.api.schemas import (
    MAX_ID,
    PREVIEW_CHARS,
    DeadLetterNoteOut,
    DeadLetterOut,
    DeadLetterSelectionIn,
    DeadLettersOut,
    DeadLetterSummaryOut,
    DeviceLettersOut,
    PurgeOut,
    ReplayFailureOut,
    ReplayOut,
)
from ingest.contract import DEVICE_ID
from ingest.deadletters import Selection, StoredLetter

PREFIX = "/api/v1/dead-letters"
TAGS: list[str | Any] = ["dead letters"]

summary_router = APIRouter(prefix=PREFIX, tags=TAGS, dependencies=[ReadToken], responses=AUTH_RESPONSES)
admin_router = APIRouter(prefix=PREFIX, tags=TAGS, dependencies=[AdminToken], responses=AUTH_RESPONSES)
routers = (summary_router, admin_router)
"""In this order: `/summary` must be matched before `/{id}`."""

Context = Annotated[ApiContext, Depends(api_context)]
DeviceFilter = Annotated[
    str | None, Query(pattern=DEVICE_ID.pattern, description="only the letters of this device")
]
LetterId = Annotated[int, Path(ge=1, le=MAX_ID, description="the letter's id")]
UNKNOWN_LETTER: dict[int | str, dict[str, Any]] = {404: {"description": "no such dead letter"}}
NEWEST = 10


def _note(letter: StoredLetter) -> DeadLetterNoteOut:
    return DeadLetterNoteOut(
        id=letter.id,
        reason=letter.reason,
        device=letter.device,
        received=letter.received_ms,
        topic=letter.topic,
        size=letter.payload_bytes,
    )


def _out(letter: StoredLetter) -> DeadLetterOut:
    try:
        preview: str | None = letter.payload.decode("utf-8")[:PREVIEW_CHARS]
    except UnicodeDecodeError:
        preview = None
    return DeadLetterOut(
        **_note(letter).model_dump(),
        payload=base64.b64encode(letter.payload).decode("ascii"),
        truncated=len(letter.payload) < letter.payload_bytes,
        preview=preview,
    )


def _selection(body: DeadLetterSelectionIn) -> Selection:
    return Selection(
        ids=None if body.ids is None else tuple(body.ids),
        device=body.device,
        reason=body.reason,
        before_ms=body.before,
    )


@summary_router.get(
    "/summary",
    summary="Dead-letter counts and the newest reasons, without payloads",
    description="The count of all letters (or of `device`'s), the newest reasons, and the count of each "
    "device that has letters, a page at a time in id order.",
)
def get_summary(
    context: Context,
    device: DeviceFilter = None,
    after: Annotated[str, Query(max_length=64, description="the last device of the previous page")] = "",
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="devices per page")] = 100,
    newest: Annotated[int, Query(ge=0, le=100, description="how many of the newest letters")] = NEWEST,
) -> DeadLetterSummaryOut:
    found = context.letters.summary(device, newest)
    counts = context.letters.per_device(after, limit + 1)
    page = counts[:limit]
    return DeadLetterSummaryOut(
        total=found.total,
        newest=[_note(letter) for letter in found.newest],
        devices=[DeviceLettersOut(device=c.device, count=c.count) for c in page],
        next=page[-1].device if len(counts) > limit else None,
    )


@admin_router.get(
    "",
    summary="Dead letters with their payloads, newest first, a page at a time",
    description="`next` is the `before` of the following page, null on the last page.",
)
def list_letters(
    context: Context,
    device: DeviceFilter = None,
    reason: Annotated[
        str | None, Query(min_length=1, max_length=200, description="contained in the reason, any case")
    ] = None,
    before: Annotated[int | None, Query(ge=1, le=MAX_ID, description="ids below this one")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="letters per page")] = 100,
) -> DeadLettersOut:
    found = context.letters.page(Selection(device=device, reason=reason), before, limit + 1)
    page = found[:limit]
    return DeadLettersOut(letters=[_out(x) for x in page], next=page[-1].id if len(found) > limit else None)


@admin_router.get("/{letter_id}", summary="One dead letter with its payload", responses=UNKNOWN_LETTER)
def get_letter(letter_id: LetterId, context: Context) -> DeadLetterOut:
    letter = context.letters.get(letter_id)
    if letter is None:
        raise HTTPException(404, f"no dead letter {letter_id}")
    return _out(letter)


@admin_router.post(
    "/replay",
    summary="Replay dead letters through today's pipeline",
    description="Each chosen letter (at most 1,000 at a time, oldest first) is decoded, validated and "
    "stored as a live message would be, with today's settings and its original topic and receive "
    "time. Those that pass are stored, counted and removed; the rest stay, with the reason they fail "
    "for today. Replaying again is harmless; letters another replay holds are left to it.",
)
def replay(body: DeadLetterSelectionIn, context: Context) -> ReplayOut:
    report = context.replayer.replay(_selection(body))
    return ReplayOut(
        stored=report.stored,
        failed=[ReplayFailureOut(id=i, reason=r) for i, r in report.failed.items()],
        skipped=report.skipped,
    )


@admin_router.post("/purge", summary="Delete dead letters")
def purge(body: DeadLetterSelectionIn, context: Context) -> PurgeOut:
    return PurgeOut(deleted=context.letters.purge(_selection(body)))
