"""`sensorfleet deadletters list|show|replay|purge`: the messages that could not be stored.

Topics, reasons and payloads are device-supplied: they are printed escaped (`_shown`), so that no byte
a board sent reaches the terminal as a control sequence.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from ingest.cli_options import DatabaseUrl, DataDir, cli_errors, settings_flags
from ingest.contract import DEVICE_ID
from ingest.deadletters import DeadLetters, Selection, StoredLetter
from ingest.durations import parse_duration
from ingest.errors import ConfigError
from ingest.service import offline_replayer
from ingest.settings import Settings, load_settings
from ingest.state.migrate import open_state

deadletters_app = typer.Typer(
    no_args_is_help=True, help="List, show, replay and purge the messages that could not be stored."
)

PREVIEW_CHARS = 200

Ids = Annotated[list[int] | None, typer.Argument(help="letter ids, as `list` shows them", min=1)]
Device = Annotated[str | None, typer.Option(help="only the letters of this device")]
Reason = Annotated[str | None, typer.Option(help="only letters whose reason contains this (any case)")]


@contextmanager
def _letters(data_dir: Path | None, database_url: str | None) -> Iterator[DeadLetters]:
    settings = load_settings(data_dir=data_dir, database_url=database_url)
    state = open_state(settings.data_dir, settings.database_url)
    try:
        yield DeadLetters(state)
    finally:
        state.close()


def _shown(text: str | bytes, limit: int = PREVIEW_CHARS) -> str:
    """`text` for a terminal: invalid UTF-8 as \\x.., control and other unprintable characters escaped,
    cut to `limit` characters with an ellipsis."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "backslashreplace")
    safe = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)
    return safe if len(safe) <= limit else safe[: limit - 1] + "…"


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")


def _selection(ids: list[int] | None, device: str | None, reason: str | None) -> Selection:
    if device is not None and not DEVICE_ID.fullmatch(device):
        raise ConfigError(f"{_shown(device, 80)!r} is not a device id")
    return Selection(ids=tuple(ids) if ids else None, device=device, reason=reason or None)


def _line(letter: StoredLetter) -> str:
    return "\t".join(
        [
            str(letter.id),
            _when(letter.received_ms),
            letter.device or "-",
            f"{letter.payload_bytes}B",
            _shown(letter.reason, 120),
            _shown(letter.topic, 80),
        ]
    )


@deadletters_app.command("list")
@cli_errors
def list_letters(
    device: Device = None,
    reason: Reason = None,
    before: Annotated[int | None, typer.Option(help="only ids below this one (the next page)", min=1)] = None,
    limit: Annotated[int, typer.Option(help="at most this many, the newest", min=1, max=10_000)] = 50,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """List dead letters, newest first: id, received, device, size, reason, topic."""
    with _letters(data_dir, database_url) as letters:
        found = letters.page(_selection(None, device, reason), before, limit)
        total = letters.count(_selection(None, device, reason))
    for letter in found:
        typer.echo(_line(letter))
    more = f"; the next page: --before {found[-1].id}" if len(found) < total and found else ""
    typer.echo(f"{len(found)} of {total} dead letters{more}", err=True)


@deadletters_app.command()
@cli_errors
def show(
    letter_id: Annotated[int, typer.Argument(help="the letter's id", min=1)],
    save: Annotated[
        Path | None, typer.Option(help="write the payload's bytes, as kept, to this file (mode 0600)")
    ] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Show one dead letter, its payload escaped for the terminal."""
    with _letters(data_dir, database_url) as letters:
        letter = letters.get(letter_id)
    if letter is None:
        raise ConfigError(f"no dead letter {letter_id}")
    kept = len(letter.payload)
    typer.echo(f"id:       {letter.id}")
    typer.echo(f"received: {_when(letter.received_ms)} ({letter.received_ms})")
    typer.echo(f"device:   {letter.device or '-'}")
    typer.echo(f"topic:    {_shown(letter.topic, 1000)}")
    typer.echo(
        f"size:     {letter.payload_bytes} bytes{f' ({kept} kept)' if kept < letter.payload_bytes else ''}"
    )
    typer.echo(f"reason:   {_shown(letter.reason, 1000)}")
    typer.echo(f"payload:  {_shown(letter.payload, 4000)}")
    if save is not None:
        save.touch(mode=0o600)
        save.write_bytes(letter.payload)


@deadletters_app.command()
@cli_errors
@settings_flags()
def replay(
    settings: Settings,
    ids: Ids = None,
    device: Device = None,
    reason: Reason = None,
    all_letters: Annotated[bool, typer.Option("--all", help="every letter (1,000 per run)")] = False,
) -> None:
    """Replay dead letters through today's pipeline (today's settings, e.g. a wider timestamp window):
    those that pass are stored, counted and removed; the rest stay, with their new reason."""
    selection = _selection(ids, device, reason)
    if all_letters == (selection != Selection()):
        raise ConfigError("say which letters: ids, --device or --reason, or --all alone")
    with offline_replayer(settings) as replayer:
        report = replayer.replay(selection)
    for letter_id, why in report.failed.items():
        typer.echo(f"{letter_id}\tstill failing\t{_shown(why, 200)}")
    for letter_id in report.skipped:
        typer.echo(f"{letter_id}\tnot replayable: only part of its payload was kept")
    counts = (len(report.stored), len(report.failed), len(report.skipped))
    typer.echo("replayed {}, still failing {}, not replayable {}".format(*counts), err=True)


@deadletters_app.command()
@cli_errors
def purge(
    ids: Ids = None,
    device: Device = None,
    reason: Reason = None,
    older_than: Annotated[
        str | None, typer.Option(help="only letters received longer ago than this: 90s, 30m, 12h, 7d")
    ] = None,
    all_letters: Annotated[bool, typer.Option("--all", help="every letter")] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Delete dead letters: chosen ids, those matching filters, or --all."""
    selection = _selection(ids, device, reason)
    if older_than is not None:
        try:
            age_ms = int(parse_duration(older_than) * 1000)
        except ValueError as e:
            raise ConfigError(f"--older-than {_shown(older_than, 40)!r}: {e}") from None
        selection = Selection(
            selection.ids, selection.device, selection.reason, int(time.time() * 1000) - age_ms
        )
    if all_letters == (selection != Selection()):
        raise ConfigError("say which letters: ids, --device, --reason or --older-than, or --all alone")
    with _letters(data_dir, database_url) as letters:
        deleted = letters.purge(selection)
    typer.echo(f"deleted {deleted} dead letters", err=True)
