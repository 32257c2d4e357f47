"""`sensorfleet alerts rule add|list|remove|test` and `alerts list`: rules from flags, one `error:`
line and exit 1 for what cannot be a rule, and a test notification to a real receiver."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ingest.alerts.store import AlertStore
from ingest.cli import app as cli
from ingest.codec.payload import Telemetry
from ingest.points import Point
from ingest.registry import Registry
from ingest.state.migrate import open_state
from support.webhook import WebhookReceiver


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    found = tmp_path / "data"
    Registry(open_state(found)).record(
        [(Telemetry("dev-1", (Point("dev-1", 1, {"temperature": 20.0}),), 1, 0), 1)]
    )
    return found


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    found = WebhookReceiver()
    yield found
    found.close()


def run(data_dir: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["alerts", *args, "--data-dir", str(data_dir)])
    return result.exit_code, result.stdout, result.stderr


def test_rules_from_flags(data_dir: Path, receiver: WebhookReceiver) -> None:
    hot = ("rule", "add", "hot", "--device", "dev-1", "--metric", "temperature", "--above", "30",
           "--hysteresis", "2", "--for", "3s", "--webhook", receiver.url)  # fmt: skip
    assert run(data_dir, *hot) == (0, "", "added rule hot\n")
    assert run(data_dir, "rule", "add", "gone", "--tag", "site=north", "--offline-for", "5m")[0] == 0
    assert (
        run(data_dir, "rule", "add", "gaps", "--all", "--missing-over", "10", "--severity", "critical")[0]
        == 0
    )
    assert run(data_dir, "rule", "add", "ingest", "--spool-over", "80", "--writer-held")[0] == 0
    code, out, _ = run(data_dir, "rule", "list")
    rules = {r["name"]: r for r in map(json.loads, out.splitlines())}
    assert code == 0 and sorted(rules) == ["gaps", "gone", "hot", "ingest"]
    assert rules["hot"]["condition"] == {"kind": "threshold", "metric": "temperature", "above": 30.0,
                                         "below": None, "hysteresis": 2.0}  # fmt: skip
    assert (rules["hot"]["for_s"], rules["gone"]["for_s"]) == (3.0, 300.0)
    assert (
        rules["gone"]["selector"]["tag"] == ["site", "north"]
        and rules["gone"]["condition"]["kind"] == "offline"
    )
    assert (
        rules["ingest"]["condition"]["spool_over_pct"] == 80 and rules["ingest"]["condition"]["writer_held"]
    )

    code, out, _ = run(data_dir, "rule", "test", "hot")
    assert (code, out) == (0, f"{receiver.url}\tok\n") and receiver.statuses() == [("firing", "hot", "test")]
    receiver.mode = "fail"
    code, out, _ = run(data_dir, "rule", "test", "hot")
    assert (code, out) == (1, f"{receiver.url}\tHTTP 500\n")

    assert run(data_dir, "rule", "remove", "gone") == (0, "", "removed rule gone\n")
    assert run(data_dir, "rule", "remove", "gone") == (1, "", "error: no rule named 'gone'\n")


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (
            ("--device", "dev-1", "--metric", "humidity", "--above", "1"),
            "no device has sent a metric named 'humidity'",
        ),
        (("--device", "dev-1", "--above", "1"), "need --metric"),
        (("--device", "dev-1"), "give one condition"),
        (("--device", "dev-1", "--offline", "--dropped"), "give one condition"),
        (("--all", "--offline", "--for", "soon"), "'soon' is not a duration"),
        (("--all", "--offline", "--webhook", "file:///etc/passwd"), "URL scheme should be 'http' or 'https'"),
        (("--device", "DEV 1", "--offline"), "is not a device id"),
        (("--tag", "site", "--offline"), "--tag is key=value"),
        (("--all", "--device", "dev-1", "--offline"), "one of them"),
        (("--offline",), "select devices"),
        (("--all", "--spool-over", "80"), "selects no devices"),
        (("--all", "--offline", "--severity", "doom"), "severity"),
    ],
)
def test_what_cannot_be_a_rule_is_one_error_line(data_dir: Path, args: tuple[str, ...], says: str) -> None:
    code, _, err = run(data_dir, "rule", "add", "x", *args)
    assert code == 1 and err.startswith("error: ") and says in err and err.count("\n") == 1, err
    assert run(data_dir, "rule", "list")[1] == ""


def test_alerts_list(data_dir: Path) -> None:
    assert run(data_dir, "rule", "add", "gone", "--all", "--offline")[0] == 0
    store = AlertStore(open_state(data_dir))
    first = store.start("gone", "dev-1", 1_000, {"online": False})
    assert first is not None and store.fire(first, 2_000, [])
    assert store.resolve(first, 3_000, {"online": True}, [])
    store.start("gone", "dev-2", 4_000, {"online": False})
    code, out, _ = run(data_dir, "list")
    assert code == 0 and [line.split("\t")[1:4] for line in out.splitlines()] == [
        ["gone", "dev-2", "pending"],
        ["gone", "dev-1", "resolved"],
    ]
    code, out, _ = run(data_dir, "list", "--active")
    assert [line.split("\t")[2] for line in out.splitlines()] == ["dev-2"]
