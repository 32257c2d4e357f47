"""The CLI's shared settings flags and its error convention, on a command of its own."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from ingest.cli_options import cli_errors, settings_flags
from ingest.settings import Settings

app = typer.Typer()


@app.command()
@cli_errors
@settings_flags(data_dir=Path("own-default"))
def show(settings: Settings, extra: int = 1) -> None:
    typer.echo(f"{settings.data_dir} {settings.topic_prefix} {extra}")


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_flags_become_settings_and_the_command_keeps_its_own_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENSORFLEET_TOPIC_PREFIX", "env")
    assert run("--extra", "3") == (0, "own-default env 3\n", "")
    assert run("--data-dir", str(tmp_path), "--topic-prefix", "flag") == (0, f"{tmp_path} flag 1\n", "")
    monkeypatch.setenv("SENSORFLEET_DATA_DIR", str(tmp_path / "env"))
    assert run()[1] == "own-default env 1\n"  # the command's own default, like a flag, wins


def test_a_sensorfleet_error_is_one_line_and_exit_code_1() -> None:
    code, out, err = run("--topic-prefix", "a/+")
    assert (code, out) == (1, "")
    assert err.startswith("error: ") and "topic_prefix" in err and err.count("\n") == 1


def test_a_command_line_click_cannot_parse_is_exit_code_2() -> None:
    code, _, err = run("--http-port", "eighty")
    assert code == 2 and "--http-port" in err
