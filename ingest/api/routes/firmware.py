"""`/api/v1/firmware` and `/api/v1/rollouts`: firmware bundles and their rollouts over the air, with an
admin token only (what runs on every board is at stake). The CLI's `sensorfleet firmware` does the same
through the same desk (ingest.ota.manage)."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Request, Response

from ingest.api.auth import AUTH_RESPONSES, AdminToken
from ingest.api.context import ApiContext, api_context
from ingest.api.schemas import (
    MAX_ID,
    BundleIn,
    BundleOut,
    FirmwareOut,
    RolloutBoardOut,
    RolloutDetailOut,
    RolloutDeviceOut,
    RolloutIn,
    RolloutOut,
    RolloutsOut,
)
from ingest.contract import FW_VERSION
from ingest.errors import FirmwareError, NameTakenError
from ingest.ota.bundle import MAX_BUNDLE_BYTES
from ingest.ota.manage import RolloutView
from ingest.ota.store import BundleInfo, Rollout

router = APIRouter(prefix="/api/v1", tags=["firmware"], dependencies=[AdminToken], responses=AUTH_RESPONSES)
Context = Annotated[ApiContext, Depends(api_context)]
Version = Annotated[str, Path(pattern=FW_VERSION.pattern, description="a bundle's version")]
RolloutId = Annotated[int, Path(ge=1, le=MAX_ID)]
MAX_UPLOAD_BYTES = MAX_BUNDLE_BYTES * 4 // 3 + 64 * 1024
"""A bundle's files in base64, and room for the rest of the JSON."""
UNKNOWN_ROLLOUT: dict[int | str, dict[str, Any]] = {404: {"description": "no such rollout"}}


def _bundle_out(info: BundleInfo) -> BundleOut:
    return BundleOut(
        version=info.version, sha256=info.sha256, size=info.size, files=info.files, created=info.created_ms
    )


def _rollout_out(rollout: Rollout, counts: dict[str, int] | None = None) -> RolloutOut:
    return RolloutOut(
        id=rollout.id,
        version=rollout.version,
        target=rollout.target,
        canary=rollout.canary,
        wave=rollout.wave,
        health_s=rollout.health_s,
        state=rollout.state.value,
        reason=rollout.reason,
        created=rollout.created_ms,
        updated=rollout.updated_ms,
        counts=counts or {},
    )


def _detail(view: RolloutView) -> RolloutDetailOut:
    devices = []
    for m in view.members:
        seen = view.seen.get(m.device)
        board = None if seen is None else RolloutBoardOut(**vars(seen))
        devices.append(
            RolloutDeviceOut(
                device=m.device,
                wave=m.wave,
                state=m.state.value,
                offers=m.offers,
                offered=m.offered_ms,
                done=m.done_ms,
                reason=m.reason,
                board=board,
            )
        )
    return RolloutDetailOut(**_rollout_out(view.rollout, view.counts()).model_dump(), devices=devices)


def _refused(e: FirmwareError) -> HTTPException:
    return HTTPException(422, [{"loc": ["body"], "msg": str(e), "type": "value_error"}])


async def _bounded(request: Request) -> None:
    """Refuses an upload larger than any bundle before reading it."""
    length = request.headers.get("content-length")
    if length is None or not length.isdigit() or int(length) > MAX_UPLOAD_BYTES:
        raise HTTPException(413, f"an upload needs a Content-Length of at most {MAX_UPLOAD_BYTES} bytes")


@router.get("/firmware", summary="The firmware bundles, and how many devices run each version")
def list_firmware(context: Context) -> FirmwareOut:
    desk = context.firmware
    return FirmwareOut(bundles=[_bundle_out(b) for b in desk.bundles()], fleet=desk.fleet_versions())


@router.post(
    "/firmware",
    status_code=201,
    dependencies=[Depends(_bounded)],
    summary="Upload a bundle",
    description="422 when a file, the version or a path is outside the contract, the bundle is over its "
    "limits, or the manifest sent does not describe the files; 409 when the version exists; 413 when "
    "the upload is larger than any bundle.",
    responses={409: {"description": "the version exists"}, 413: {"description": "too large"}},
)
def upload(bundle: BundleIn, context: Context) -> BundleOut:
    try:
        contents = {path: base64.b64decode(data, validate=True) for path, data in bundle.files.items()}
    except (binascii.Error, ValueError):
        raise _refused(FirmwareError("a file is not base64")) from None
    try:
        return _bundle_out(context.firmware.add_bundle(bundle.version, contents, bundle.manifest))
    except NameTakenError as e:
        raise HTTPException(409, str(e)) from None
    except FirmwareError as e:
        raise _refused(e) from None


@router.delete(
    "/firmware/{version}",
    status_code=204,
    summary="Remove a bundle",
    responses={404: {"description": "no such bundle"}, 409: {"description": "a rollout still uses it"}},
)
def remove_firmware(version: Version, context: Context) -> Response:
    try:
        removed = context.firmware.remove_bundle(version)
    except FirmwareError as e:
        raise HTTPException(409, str(e)) from None
    if not removed:
        raise HTTPException(404, f"no firmware {version}")
    return Response(status_code=204)


@router.get("/rollouts", summary="Every rollout, oldest first")
def list_rollouts(context: Context) -> RolloutsOut:
    return RolloutsOut(rollouts=[_rollout_out(r) for r in context.firmware.list()])


@router.post(
    "/rollouts",
    status_code=201,
    summary="Start a rollout",
    description="Canary first, then waves, each only after the previous one is healthy; a rollback, a "
    "failure or a board not healthy within `health_s` halts it. 422 for an unknown version or "
    "device, no device chosen (or more than one way), or a device already in an unfinished rollout.",
)
def start_rollout(body: RolloutIn, context: Context) -> RolloutOut:
    tag = None
    if body.tag is not None:
        key, _, value = body.tag.partition("=")
        tag = (key, value)
    try:
        started = context.firmware.start(
            body.version, body.devices, tag, body.all, body.canary, body.wave, body.health_s
        )
    except FirmwareError as e:
        raise _refused(e) from None
    return _rollout_out(started)


@router.get("/rollouts/{rollout_id}", summary="A rollout and each of its devices", responses=UNKNOWN_ROLLOUT)
def get_rollout(rollout_id: RolloutId, context: Context) -> RolloutDetailOut:
    view = context.firmware.view(rollout_id)
    if view is None:
        raise HTTPException(404, f"no rollout {rollout_id}")
    return _detail(view)


@router.post(
    "/rollouts/{rollout_id}/halt",
    summary="Halt a running rollout",
    responses={**UNKNOWN_ROLLOUT, 409: {"description": "not running"}},
)
def halt_rollout(rollout_id: RolloutId, context: Context) -> RolloutOut:
    return _rollout_out(_moved(lambda: context.firmware.halt(rollout_id)))


@router.post(
    "/rollouts/{rollout_id}/resume",
    summary="Resume a halted rollout; boards that rolled back, failed or timed out are skipped",
    responses={**UNKNOWN_ROLLOUT, 409: {"description": "not halted"}},
)
def resume_rollout(rollout_id: RolloutId, context: Context) -> RolloutOut:
    return _rollout_out(_moved(lambda: context.firmware.resume(rollout_id)))


def _moved(move: Any) -> Rollout:
    try:
        result: Rollout = move()
    except LookupError as e:
        raise HTTPException(404, str(e)) from None
    except FirmwareError as e:
        raise HTTPException(409, str(e)) from None
    return result
