"""`sensorfleet firmware`: a bundle built from the shipped firmware tree (the app, never the boot stub or
config.json), listed with the fleet's versions, rolled out by tag, shown, halted and resumed; one
`error:` line and exit 1 for what cannot be done."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from ingest.cli import app as cli
from ingest.codec.payload import Status
from ingest.ota.bundle import STUB_FILES
from ingest.ota.store import FirmwareStore
from ingest.registry import Registry
from ingest.state.migrate import open_state


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    found = tmp_path / "data"
    registry = Registry(open_state(found))
    for n in range(4):
        registry.set_status(f"dev-{n}", Status(online=True, fw="0.1.0"), 1000)
        registry.update_tags(f"dev-{n}", {"site": "lab" if n < 3 else "roof"})
    return found


def run(data_dir: Path, *args: str) -> tuple[int, list[dict[str, Any]], str]:
    result = CliRunner().invoke(cli, ["firmware", *args, "--data-dir", str(data_dir)])
    return result.exit_code, [json.loads(line) for line in result.stdout.splitlines()], result.stderr


def test_build_list_roll_out_halt_and_resume(data_dir: Path) -> None:
    code, [bundle], _ = run(data_dir, "build", "--version", "0.2.0", "--profile", "unix")
    assert code == 0 and bundle["version"] == "0.2.0"
    stored = FirmwareStore(open_state(data_dir)).get("0.2.0")
    assert stored is not None and stored.sha256 == bundle["sha256"]
    paths = {f.path for f in stored.files}
    # As boards run it: compiled, the boot stub left out.
    assert "sensorfleet/app.mpy" in paths and "hal/unix.mpy" in paths and not paths & STUB_FILES
    assert not {p for p in paths if p.endswith(".py")}
    assert orjson.loads(stored.manifest)["sha256"] == stored.sha256

    code, lines, _ = run(data_dir, "list")
    assert code == 0 and lines[-1] == {"fleet": {"0.1.0": 4}}

    code, [rollout], _ = run(
        data_dir, "rollout", "0.2.0", "--tag", "site=lab", "--canary", "1", "--wave", "50%"
    )
    assert code == 0 and (rollout["state"], rollout["target"]) == ("running", "tag site=lab")
    code, [status], _ = run(data_dir, "rollout-status", str(rollout["id"]))
    assert code == 0 and [(d["device"], d["wave"]) for d in status["devices"]] == [
        ("dev-0", 0), ("dev-1", 1), ("dev-2", 1),
    ]  # fmt: skip
    assert run(data_dir, "halt", str(rollout["id"]))[1][0]["state"] == "halted"
    assert run(data_dir, "resume", str(rollout["id"]))[1][0]["state"] == "running"
    assert [r["id"] for r in run(data_dir, "rollouts")[1]] == [rollout["id"]]


@pytest.mark.parametrize(
    ("args", "why"),
    [
        (["build", "--version", "0.2 beta", "--profile", "unix"], "not a firmware version"),
        (["build", "--version", "0.2.0", "--profile", "toaster"], "unknown board profile"),
        (["rollout", "9.9.9", "--all"], "no firmware 9.9.9"),
        (["rollout-status", "7"], "no rollout 7"),
        (["halt", "7"], "no rollout 7"),
        (["remove", "9.9.9"], "no firmware 9.9.9"),
    ],
)
def test_what_cannot_be_done_is_one_error_line(data_dir: Path, args: list[str], why: str) -> None:
    code, out, err = run(data_dir, *args)
    assert code == 1 and out == [] and err.startswith("error: ") and why in err


def test_a_bundle_in_use_or_a_device_in_two_rollouts_is_refused(data_dir: Path) -> None:
    assert run(data_dir, "build", "--version", "0.2.0", "--profile", "unix")[0] == 0
    assert run(data_dir, "rollout", "0.2.0", "--device", "dev-3")[0] == 0
    code, _, err = run(data_dir, "rollout", "0.2.0", "--all")
    assert code == 1 and "already in a rollout" in err and "dev-3" in err
    code, _, err = run(data_dir, "remove", "0.2.0")
    assert code == 1 and "not done" in err
    code, _, err = run(data_dir, "rollout", "0.2.0", "--tag", "site")
    assert code == 1 and "key=value" in err
