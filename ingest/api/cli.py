"""`sensorfleet token create|list|revoke`: API tokens in the state database."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from ingest.api.tokens import Scope, TokenStore
from ingest.cli_options import DatabaseUrl, DataDir, cli_errors
from ingest.errors import ConfigError
from ingest.settings import load_settings
from ingest.state.migrate import open_state

token_app = typer.Typer(no_args_is_help=True, help="Create, list and revoke API tokens.")


def _store(data_dir: Path | None, database_url: str | None) -> TokenStore:
    settings = load_settings(data_dir=data_dir, database_url=database_url)
    return TokenStore(open_state(settings.data_dir, settings.database_url))


def _when(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).isoformat(timespec="seconds")


@token_app.command()
@cli_errors
def create(
    scope: Annotated[Scope, typer.Option(help="read, command (⊇ read) or admin (⊇ command)")],
    name: Annotated[str, typer.Option(help="what the token is for")] = "",
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create a token and print its secret (shown only this once)."""
    secret, token = _store(data_dir, database_url).create(scope, name)
    typer.echo(f"created token {token.id} ({token.scope}){f' {name!r}' if name else ''}", err=True)
    typer.echo(secret)


@token_app.command("list")
@cli_errors
def list_tokens(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """List tokens (never their secrets)."""
    for token in _store(data_dir, database_url).list():
        state = "active" if token.active else f"revoked {_when(token.revoked_at or 0)}"
        typer.echo(f"{token.id}\t{token.scope}\t{_when(token.created_at)}\t{state}\t{token.name}")


@token_app.command()
@cli_errors
def revoke(
    token_id: Annotated[str, typer.Argument(help="the id shown by `create` and `list`")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Revoke a token: requests with it are refused from now on."""
    if not _store(data_dir, database_url).revoke(token_id):
        raise ConfigError(f"no active token {token_id!r}")
    typer.echo(f"revoked {token_id}")
