"""The contract's copies outside Python are held to `ingest/contract.py`: a table generated from the
contract must equal the one read from the firmware (run on the real MicroPython unix binary) and the
one in the dashboard's `contract.js`."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

from ingest.contract import COMMAND_OPS, DEVICE_PUBLISHES, DEVICE_READS, SETTABLE
from support.boards import FIRMWARE
from support.micropython import micropython_binary

DASHBOARD_CONTRACT = Path(__file__).resolve().parent.parent / "dashboard" / "contract.js"
FIRMWARE_TABLE = """
import json
from sensorfleet.topics import Topics
from sensorfleet import commands, settable
t = Topics("p", "d")
print(json.dumps({
    "publishes": sorted(topic[4:] for topic in [t.telemetry, t.status, t.result, t.ota_req]),
    "subscribes": [topic[4:] for topic in [t.cmd, t.ota_data]],
    "ops": sorted(name[3:] for name in dir(commands.Commands) if name.startswith("op_")),
    "settable": {k: list(v) for k, v in settable.SETTABLE.items()},
}))
"""


def contract_table() -> dict[str, Any]:
    return {
        "publishes": sorted(DEVICE_PUBLISHES),
        "subscribes": list(DEVICE_READS),
        "ops": sorted(COMMAND_OPS),
        "settable": {name: [s.kind, s.low, s.high] for name, s in SETTABLE.items()},
    }


def firmware_table(tmp_path: Path) -> dict[str, Any]:
    code = f"import sys\nsys.path[:0] = [{str(FIRMWARE)!r}]\n{FIRMWARE_TABLE}"
    run = subprocess.run(
        [micropython_binary(), "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    found: dict[str, Any] = json.loads(run.stdout)
    return found


def test_the_firmware_s_copy_is_the_contract(tmp_path: Path) -> None:
    assert firmware_table(tmp_path) == contract_table()


def test_the_dashboard_s_copy_is_the_contract() -> None:
    found = re.search(r"^export const SETTABLE = (\{.*\});$", DASHBOARD_CONTRACT.read_text(), re.M)
    assert found, "dashboard/contract.js must export SETTABLE as one line of JSON"
    settable = {name: [s["kind"], s["low"], s["high"]] for name, s in json.loads(found[1]).items()}
    assert settable == contract_table()["settable"]
