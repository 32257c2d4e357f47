"""`sensorfleet db upgrade|current`: the state database's schema (`sensorfleet serve` upgrades it at
start too)."""

from __future__ import annotations

import typer

from ingest.cli_options import DatabaseUrl, DataDir, cli_errors
from ingest.settings import load_settings
from ingest.state.database import StateDatabase, shown, state_url
from ingest.state.migrate import current as current_revision
from ingest.state.migrate import head, open_state

db_app = typer.Typer(no_args_is_help=True, help="The state database: upgrade it, see its revision.")


@db_app.command()
@cli_errors
def upgrade(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Bring the state database to this release's schema, taking in a data dir's older files."""
    settings = load_settings(data_dir=data_dir, database_url=database_url)
    url = state_url(settings.data_dir, settings.database_url)
    db = open_state(settings.data_dir, settings.database_url)
    db.close()
    typer.echo(f"{shown(url)} is at revision {head()}")


@db_app.command()
@cli_errors
def current(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Print the state database's revision and whether it is this release's."""
    settings = load_settings(data_dir=data_dir, database_url=database_url)
    db = StateDatabase(state_url(settings.data_dir, settings.database_url))
    try:
        found = current_revision(db)
    finally:
        db.close()
    if found == head():
        typer.echo(f"{found} (this release's)")
    else:
        typer.echo(f"{found or 'none'} (this release needs {head()}: run `sensorfleet db upgrade`)")
