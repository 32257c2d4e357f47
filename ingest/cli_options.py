"""The command line's shared options and its one error convention.

Options: `--data-dir` is declared once (`DataDir`) for every command; the flags of the service's
settings (design: every setting has a flag) once, added to a command by `@settings_flags`.

Errors (`@cli_errors`): any sensorfleet error (bad settings or input, a board, a store, the network)
ends the command with one line on stderr, `error: ...`, and exit code 1. Exit code 2 is Click's: a
command line it cannot parse (an unknown flag, a value of the wrong type or out of range).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Concatenate, ParamSpec, TypeVar

import typer

from ingest.errors import SensorfleetError
from ingest.settings import Settings, load_settings

P = ParamSpec("P")
R = TypeVar("R")

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="State directory (env SENSORFLEET_DATA_DIR)", show_default=False),
]

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="the state store: postgresql://user@host/db (env SENSORFLEET_DATABASE_URL); default: SQLite "
        "in the data dir",
        show_default=False,
    ),
]


def _flags(
    mqtt_url: Annotated[
        str | None, typer.Option(help="mqtt://user:pass@host:1883; default: embedded broker")
    ] = None,
    mqtt_password_file: Annotated[
        Path | None,
        typer.Option(help="file whose first line is the broker password (keeps it out of `ps`)"),
    ] = None,
    influx_url: Annotated[
        str | None, typer.Option(help="http://host:8086; default: SQLite in the data dir")
    ] = None,
    influx_db: Annotated[str | None, typer.Option(help="database (v1) or bucket (v2)")] = None,
    influx_api: Annotated[str | None, typer.Option(help="v1 (/write) or v2 (/api/v2/write)")] = None,
    influx_token: Annotated[str | None, typer.Option(help="InfluxDB token")] = None,
    topic_prefix: Annotated[str | None, typer.Option(help="MQTT topic prefix")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    http_host: Annotated[str | None, typer.Option(help="HTTP bind address")] = None,
    http_port: Annotated[int | None, typer.Option(help="HTTP port")] = None,
    share_group: Annotated[str | None, typer.Option(help="MQTT v5 shared subscription group")] = None,
    broker_port: Annotated[int | None, typer.Option(help="port of the embedded broker")] = None,
    config: Annotated[Path | None, typer.Option(help="TOML settings file")] = None,
) -> None:
    """The settings flags: only its signature is used, as the template of `settings_flags`."""


_FLAGS = tuple(inspect.signature(_flags, eval_str=True).parameters.values())


def settings_flags(
    data_dir: Path | None = None,
) -> Callable[[Callable[Concatenate[Settings, P], R]], Callable[..., R]]:
    """Turns `command(settings, **own)` into a Typer command taking the settings flags and its own.

    Flags left out keep what the environment and the config file say; `data_dir`, when given, is the
    command's own `--data-dir` default (it wins over the environment's, as a flag does)."""

    def wrap(command: Callable[Concatenate[Settings, P], R]) -> Callable[..., R]:
        call: Callable[..., R] = command  # its own parameters come by name, as Typer parsed them
        own = list(inspect.signature(command, eval_str=True).parameters.values())[1:]

        @functools.wraps(command)
        def run(**given: Any) -> R:
            flags = {p.name: given.pop(p.name) for p in _FLAGS}
            if flags["data_dir"] is None:
                flags["data_dir"] = data_dir
            settings = load_settings(
                flags.pop("config"), embedded_broker_port=flags.pop("broker_port"), **flags
            )
            return call(settings, **given)

        run.__signature__ = inspect.Signature([*_FLAGS, *own])  # type: ignore[attr-defined]
        run.__annotations__ = {}  # Typer reads the signature above, not the command's own hints
        return run

    return wrap


def cli_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Any sensorfleet error becomes one line on stderr and exit code 1."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except SensorfleetError as e:
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(1) from None

    return run
