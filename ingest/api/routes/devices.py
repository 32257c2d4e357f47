"""`/api/v1/devices`: each device's status, tags, newest values, completeness and status history."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query

from ingest.api.auth import AUTH_RESPONSES, ReadToken
from ingest.api.context import ApiContext, api_context
from ingest.api.ports import DeviceRecord
from ingest.api.schemas import (
    BootOut,
    CompletenessOut,
    DeviceOut,
    DevicesOut,
    LatestOut,
    StatusChangeOut,
    StatusHistoryOut,
)
from ingest.contract import DEVICE_ID
from ingest.points import FieldValue

router = APIRouter(
    prefix="/api/v1/devices", tags=["devices"], dependencies=[ReadToken], responses=AUTH_RESPONSES
)

COUNTERS = frozenset({"seq", "boot"})
"""Fields the pipeline stores for completeness, not metrics."""

UNKNOWN_DEVICE: dict[int | str, dict[str, Any]] = {404: {"description": "unknown device"}}
DeviceId = Annotated[str, Path(pattern=DEVICE_ID.pattern, examples=["dev-1"], description="device id")]
Context = Annotated[ApiContext, Depends(api_context)]


MAX_PAGE = 500


def latest_of(device: str, values: Mapping[str, tuple[int, FieldValue]]) -> LatestOut:
    latest = {m: tv for m, tv in values.items() if m not in COUNTERS}
    return LatestOut(
        device=device,
        ts=max((ts for ts, _ in latest.values()), default=None),
        values={m: value for m, (_, value) in latest.items()},
        at={m: ts for m, (ts, _) in latest.items()},
    )


def describe_all(context: ApiContext, states: Sequence[DeviceRecord]) -> list[DeviceOut]:
    """The devices with their newest values, read in one store request for all of them."""
    wanted = {s.id: [m for m in s.metrics if m not in COUNTERS] for s in states}
    latest = context.reader.latest_values(wanted)
    return [describe(state, latest.get(state.id, {})) for state in states]


def describe(state: DeviceRecord, latest: Mapping[str, tuple[int, FieldValue]]) -> DeviceOut:
    return DeviceOut(
        id=state.id,
        online=state.online,
        last_seen=state.last_seen_ms,
        fw=state.fw,
        rssi=state.rssi,
        status=dict(state.status),
        tags=dict(state.tags),
        latest=latest_of(state.id, latest),
        completeness=CompletenessOut(
            received=state.received,
            missing=state.missing,
            duplicates=state.duplicates,
            boots=[BootOut(boot=b.boot, received=b.received, missing=list(b.missing)) for b in state.boots],
        ),
    )


@router.get(
    "",
    summary="Known devices, a page at a time",
    description="In id order. `next` is the `after` of the following page, null on the last page.",
)
def list_devices(
    context: Context,
    after: Annotated[str, Query(max_length=64, description="the last id of the previous page")] = "",
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="devices per page")] = 100,
) -> DevicesOut:
    states = context.directory.devices(after, limit + 1)
    page = states[:limit]
    return DevicesOut(
        devices=describe_all(context, page),
        next=page[-1].id if len(states) > limit else None,
        total=context.directory.count(),
    )


def known(context: ApiContext, device: str) -> DeviceRecord:
    state = context.directory.device(device)
    if state is None:
        raise HTTPException(404, f"no device {device!r}")
    return state


@router.get("/{device}", summary="One device", responses=UNKNOWN_DEVICE)
def get_device(device: DeviceId, context: Context) -> DeviceOut:
    return describe_all(context, [known(context, device)])[0]


@router.get("/{device}/latest", summary="The newest value of each metric")
def get_latest(device: DeviceId, context: Context) -> LatestOut:
    state = context.directory.device(device)
    metrics = [m for m in state.metrics if m not in COUNTERS] if state else []
    return latest_of(device, context.reader.latest_values({device: metrics}).get(device, {}))


@router.get(
    "/{device}/status-history",
    summary="The device's recent status changes, newest first",
    description="An entry for each status that changed `online`, `boot` (the board restarted) or `fw`; "
    "repeats are left out. The registry keeps the newest 500 per device.",
    responses=UNKNOWN_DEVICE,
)
def get_status_history(
    device: DeviceId,
    context: Context,
    limit: Annotated[int, Query(ge=1, le=1000, description="at most this many, the newest")] = 100,
) -> StatusHistoryOut:
    known(context, device)
    return StatusHistoryOut(
        device=device,
        changes=[
            StatusChangeOut(
                at=c.at_ms,
                online=c.online,
                fw=c.fw,
                boot=c.boot,
                changed=list(c.changed),
                retained=c.retained,
            )
            for c in context.directory.status_changes(device, limit)
        ],
    )
