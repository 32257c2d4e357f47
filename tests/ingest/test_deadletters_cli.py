"""`sensorfleet deadletters list|show|replay|purge`: device-supplied text escaped for the terminal, the
error convention, and a replay with today's settings (a wider window from the environment)."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from ingest.cli import app as cli
from ingest.deadletters import DeadLetter, DeadLetters, Selection
from ingest.registry import Registry
from ingest.state.migrate import open_state
from ingest.storage.sqlite import SqliteStore

NOW_MS = int(time.time() * 1000)
DAY_MS = 86_400_000
ESCAPE = "\x1b]0;pwned\x07\x1b[2J"
"""A terminal title change and a screen clear: what a crafted topic or payload could try."""


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    found = tmp_path / "data"
    DeadLetters(open_state(found)).add(
        [
            DeadLetter(
                NOW_MS - 10, f"sf/dev-1/telemetry{ESCAPE}", f"topic is not a device topic {ESCAPE}", b"x"
            ),
            DeadLetter(NOW_MS - 5, "sf/dev-1/telemetry", "bad", b"\xff" + ESCAPE.encode()),
            DeadLetter(
                NOW_MS,
                "sf/dev-2/telemetry",
                "timestamp is older than the accepted window",
                orjson.dumps({"boot": 3, "seq": 0, "readings": [{"ts": NOW_MS - 40 * DAY_MS, "v": 7.0}]}),
            ),
        ]
    )
    return found


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["deadletters", *args], env=env)
    return result.exit_code, result.stdout, result.stderr


def test_list_and_show_escape_what_devices_sent(data_dir: Path) -> None:
    code, out, err = run("list", "--data-dir", str(data_dir))
    assert code == 0 and "3 of 3 dead letters" in err
    assert "\x1b" not in out and "\x07" not in out and "\\x1b]0;pwned\\x07" in out
    assert [line.split("\t")[2] for line in out.splitlines()] == ["dev-2", "dev-1", "dev-1"]
    code, out, err = run("list", "--data-dir", str(data_dir), "--limit", "1", "--device", "dev-1")
    assert code == 0 and len(out.splitlines()) == 1 and "1 of 2" in err and "--before 2" in err

    code, out, _ = run("show", "2", "--data-dir", str(data_dir))
    assert code == 0 and "\x1b" not in out and "payload:  \\xff\\x1b]0;pwned" in out
    saved = data_dir.parent / "payload.bin"
    assert run("show", "2", "--data-dir", str(data_dir), "--save", str(saved))[0] == 0
    assert saved.read_bytes() == b"\xff" + ESCAPE.encode() and saved.stat().st_mode & 0o077 == 0


def test_errors_are_one_line_and_exit_1(data_dir: Path) -> None:
    code, _, err = run("show", "99", "--data-dir", str(data_dir))
    assert (code, err) == (1, "error: no dead letter 99\n")
    code, _, err = run("purge", "--data-dir", str(data_dir))
    assert code == 1 and err.startswith("error: say which letters")
    code, _, err = run("purge", "--all", "1", "--data-dir", str(data_dir))
    assert code == 1 and err.startswith("error: say which letters")
    code, _, err = run("purge", "--older-than", "a week", "--data-dir", str(data_dir))
    assert code == 1 and "--older-than 'a week'" in err
    code, _, err = run("list", "--device", "Dev 1", "--data-dir", str(data_dir))
    assert code == 1 and "is not a device id" in err
    assert run("show", "0", "--data-dir", str(data_dir))[0] == 2


def test_purge_by_id_by_age_and_all(data_dir: Path) -> None:
    assert run("purge", "1", "--data-dir", str(data_dir))[2] == "deleted 1 dead letters\n"
    assert run("purge", "--older-than", "1d", "--data-dir", str(data_dir))[2] == "deleted 0 dead letters\n"
    assert run("purge", "--all", "--data-dir", str(data_dir))[2] == "deleted 2 dead letters\n"
    assert DeadLetters(open_state(data_dir)).count() == 0


def test_replay_uses_today_s_settings(data_dir: Path) -> None:
    code, out, err = run("replay", "3", "--data-dir", str(data_dir))
    assert (
        code == 0 and out.startswith("3\tstill failing\ttimestamp") and "replayed 0, still failing 1" in err
    )
    wider = {"SENSORFLEET_MAX_PAST_S": str(60 * 86_400)}
    code, out, err = run("replay", "--device", "dev-2", "--data-dir", str(data_dir), env=wider)
    assert code == 0 and out == "" and "replayed 1, still failing 0" in err
    store = SqliteStore(data_dir / "telemetry.sqlite")
    assert [p.fields["v"] for p in store.points("dev-2", NOW_MS - 41 * DAY_MS, NOW_MS)] == [7.0]
    store.close()
    state = open_state(data_dir)
    assert Registry(state).device("dev-2").received == 1  # type: ignore[union-attr]
    assert [x.id for x in DeadLetters(state).page(Selection())] == [2, 1]
    assert run("replay", "--data-dir", str(data_dir))[0] == 1
