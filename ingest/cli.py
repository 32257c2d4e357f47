"""The `sensorfleet` command line. Each command group lives beside the code it drives."""

from __future__ import annotations

import os

import typer

from ingest import __version__
from ingest.alerts_cli import alerts_app
from ingest.api.cli import token_app
from ingest.db import db_app
from ingest.deadletters_cli import deadletters_app
from ingest.demo import demo
from ingest.firmware_cli import firmware_app
from ingest.provision.cli import device_app
from ingest.serve import serve

app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="sensorfleet: every sensor reading, stored."
)
app.add_typer(device_app, name="device")
app.add_typer(token_app, name="token")
app.add_typer(db_app, name="db")
app.add_typer(deadletters_app, name="deadletters")
app.add_typer(alerts_app, name="alerts")
app.add_typer(firmware_app, name="firmware")


@app.command()
def version() -> None:
    """Print the sensorfleet version."""
    typer.echo(__version__)


app.command()(serve)
app.command()(demo)


def main() -> None:
    # Whatever a command creates (data dir, databases, spool, board files, logs) holds device data or
    # secrets: its user's alone, whatever the login's umask (design.md §9).
    os.umask(0o077)
    app()
