"""`sensorfleet token create|list|revoke`: API tokens in `<data_dir>/tokens.sqlite3`."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from ingest.api.tokens import Scope, TokenStore
from ingest.errors import ConfigError
from ingest.settings import load_settings

token_app = typer.Typer(no_args_is_help=True, help="Create, list and revoke API tokens.")

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="State directory [env SENSORFLEET_DATA_DIR]", show_default=False),
]


def _store(data_dir: Path | None) -> TokenStore:
    try:
        return TokenStore(load_settings(data_dir=data_dir).data_dir)
    except ConfigError as e:
        typer.echo(f"sensorfleet token: {e}", err=True)
        raise typer.Exit(2) from e


def _when(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).isoformat(timespec="seconds")


@token_app.command()
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
def list_tokens(data_dir: DataDir = None) -> None:
    """List tokens (never their secrets)."""
    for token in _store(data_dir).list():
        state = "active" if token.active else f"revoked {_when(token.revoked_at or 0)}"
        typer.echo(f"{token.id}\t{token.scope}\t{_when(token.created_at)}\t{state}\t{token.name}")


@token_app.command()
def revoke(
    token_id: Annotated[str, typer.Argument(help="the id shown by `create` and `list`")],
    data_dir: DataDir = None,
) -> None:
    """Revoke a token: requests with it are refused from now on."""
    if not _store(data_dir).revoke(token_id):
        typer.echo(f"sensorfleet token: no active token {token_id!r}", err=True)
        raise typer.Exit(1)
    typer.echo(f"revoked {token_id}")
