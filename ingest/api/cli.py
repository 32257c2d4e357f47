"""`sensorfleet token create|list|revoke`: API tokens in `<data_dir>/tokens.sqlite3`."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from ingest.api.tokens import Scope, TokenStore
from ingest.cli_options import DataDir, cli_errors
from ingest.errors import ConfigError
from ingest.settings import load_settings

token_app = typer.Typer(no_args_is_help=True, help="Create, list and revoke API tokens.")


def _store(data_dir: Path | None) -> TokenStore:
    return TokenStore(load_settings(data_dir=data_dir).data_dir)


def _when(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).isoformat(timespec="seconds")


@token_app.command()
@cli_errors
def create(
    scope: Annotated[Scope, typer.Option(help="read, command (⊇ read) or admin (⊇ command)")],
    name: Annotated[str, typer.Option(help="what the token is for")] = "",
    data_dir: DataDir = None,
) -> None:
    """Create a token and print its secret (shown only this once)."""
    secret, token = _store(data_dir).create(scope, name)
    typer.echo(f"created token {token.id} ({token.scope}){f' {name!r}' if name else ''}", err=True)
    typer.echo(secret)


@token_app.command("list")
@cli_errors
def list_tokens(data_dir: DataDir = None) -> None:
    """List tokens (never their secrets)."""
    for token in _store(data_dir).list():
        state = "active" if token.active else f"revoked {_when(token.revoked_at or 0)}"
        typer.echo(f"{token.id}\t{token.scope}\t{_when(token.created_at)}\t{state}\t{token.name}")


@token_app.command()
@cli_errors
def revoke(
    token_id: Annotated[str, typer.Argument(help="the id shown by `create` and `list`")],
    data_dir: DataDir = None,
) -> None:
    """Revoke a token: requests with it are refused from now on."""
    if not _store(data_dir).revoke(token_id):
        raise ConfigError(f"no active token {token_id!r}")
    typer.echo(f"revoked {token_id}")
