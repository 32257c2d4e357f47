"""`/api/v1/devices/{id}/commands`: send a command to a board and fetch its result."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response
from fastapi.responses import JSONResponse

from ingest.api.auth import AUTH_RESPONSES, CommandToken
from ingest.api.commands import Command, CommandState
from ingest.api.context import ApiContext, api_context
from ingest.api.routes.devices import DeviceId
from ingest.api.schemas import CommandIn, CommandOut
from ingest.contract import COMMAND_ID

router = APIRouter(
    prefix="/api/v1/devices", tags=["commands"], dependencies=[CommandToken], responses=AUTH_RESPONSES
)

Context = Annotated[ApiContext, Depends(api_context)]
Wait = Annotated[float, Query(ge=0, le=300, description="seconds to wait for the board's result")]


def _out(command: Command) -> CommandOut:
    return CommandOut(
        id=command.id,
        device=command.device,
        op=command.op,
        args=dict(command.args),
        status=command.state.value,
        result=command.result,
        error=command.error,
        sent_at=command.sent_at,
    )


def _location(command: Command) -> str:
    return f"/api/v1/devices/{command.device}/commands/{command.id}"


def _capped(context: ApiContext, wait: float) -> float:
    return min(wait, context.settings.max_wait_s)


@router.post(
    "/{device}/commands",
    summary="Send a command (ping, set, flush, reboot)",
    status_code=202,
    response_model=CommandOut,
    responses={
        200: {"model": CommandOut, "description": "the board answered within `wait`"},
        504: {"model": CommandOut, "description": "no answer within `wait`; still pending, fetch it later"},
    },
)
async def send_command(
    device: DeviceId, body: CommandIn, context: Context, response: Response, wait: Wait = 0
) -> CommandOut | JSONResponse:
    tracker = context.tracker()
    command = tracker.send(device, body.op, body.args, body.id)
    response.headers["Location"] = _location(command)
    if wait <= 0:
        return _out(command)
    # None only if 10,000 newer commands pushed it out meanwhile: it is as pending as it was.
    answered = await tracker.wait(device, command.id, _capped(context, wait)) or command
    if answered.state in (CommandState.PENDING, CommandState.TIMEOUT):
        return JSONResponse(
            _out(answered).model_dump(mode="json"), status_code=504, headers={"Location": _location(command)}
        )
    response.status_code = 200
    return _out(answered)


@router.get(
    "/{device}/commands/{command_id}",
    summary="A command and its result",
    responses={404: {"description": "no such command (or forgotten: the newest 10,000 are kept)"}},
)
async def get_command(
    device: DeviceId,
    command_id: Annotated[str, Path(pattern=COMMAND_ID.pattern)],
    context: Context,
    wait: Wait = 0,
) -> CommandOut:
    tracker = context.tracker()
    command = await tracker.wait(device, command_id, _capped(context, wait))
    if command is None:
        raise HTTPException(404, f"no command {command_id!r} for {device!r}")
    return _out(command)
