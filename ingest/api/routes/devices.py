"""`/api/v1/devices`: each device's status, tags, newest values and completeness."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path

from ingest.api.auth import AUTH_RESPONSES, ReadToken
from ingest.api.context import ApiContext, api_context
from ingest.api.ports import DeviceRecord
from ingest.api.schemas import BootOut, CompletenessOut, DeviceOut, DevicesOut, LatestOut
from ingest.codec.payload import DEVICE_ID

router = APIRouter(
    prefix="/api/v1/devices", tags=["devices"], dependencies=[ReadToken], responses=AUTH_RESPONSES
)

COUNTERS = frozenset({"seq", "boot"})
"""Fields the pipeline stores for completeness, not metrics."""

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


@router.get("/{device}", summary="One device", responses={404: {"description": "unknown device"}})
def get_device(device: DeviceId, context: Context) -> DeviceOut:
    state = context.directory.device(device)
    if state is None:
        raise HTTPException(404, f"no device {device!r}")
    return describe(context, state)


@router.get("/{device}/latest", summary="The newest value of each metric")
def get_latest(device: DeviceId, context: Context) -> LatestOut:
    return latest_of(context, device)
