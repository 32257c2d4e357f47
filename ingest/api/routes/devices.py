"""`/api/v1/devices`: each device's status, tags, newest values, completeness and status history."""

from __future__ import annotations

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

router = APIRouter(
    prefix="/api/v1/devices", tags=["devices"], dependencies=[ReadToken], responses=AUTH_RESPONSES
)

COUNTERS = frozenset({"seq", "boot"})
"""Fields the pipeline stores for completeness, not metrics."""

UNKNOWN_DEVICE: dict[int | str, dict[str, Any]] = {404: {"description": "unknown device"}}
DeviceId = Annotated[str, Path(pattern=DEVICE_ID.pattern, examples=["dev-1"], description="device id")]
Context = Annotated[ApiContext, Depends(api_context)]


def latest_of(context: ApiContext, device: str) -> LatestOut:
    latest = {m: tv for m, tv in context.reader.latest_values(device).items() if m not in COUNTERS}
    return LatestOut(
        device=device,
        ts=max((ts for ts, _ in latest.values()), default=None),
        values={m: value for m, (_, value) in latest.items()},
        at={m: ts for m, (ts, _) in latest.items()},
    )


def describe(context: ApiContext, state: DeviceRecord) -> DeviceOut:
    return DeviceOut(
        id=state.id,
        online=state.online,
        last_seen=state.last_seen_ms,
        fw=state.fw,
        rssi=state.rssi,
        status=dict(state.status),
        tags=dict(state.tags),
        latest=latest_of(context, state.id),
        completeness=CompletenessOut(
            received=state.received,
            missing=state.missing,
            duplicates=state.duplicates,
            boots=[BootOut(boot=b.boot, received=b.received, missing=list(b.missing)) for b in state.boots],
        ),
    )


@router.get("", summary="Every known device")
def list_devices(context: Context) -> DevicesOut:
    return DevicesOut(devices=[describe(context, state) for state in context.directory.devices()])


def known(context: ApiContext, device: str) -> DeviceRecord:
    state = context.directory.device(device)
    if state is None:
        raise HTTPException(404, f"no device {device!r}")
    return state


@router.get("/{device}", summary="One device", responses=UNKNOWN_DEVICE)
def get_device(device: DeviceId, context: Context) -> DeviceOut:
    return describe(context, known(context, device))


@router.get("/{device}/latest", summary="The newest value of each metric")
def get_latest(device: DeviceId, context: Context) -> LatestOut:
    return latest_of(context, device)


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
