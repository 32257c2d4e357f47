"""The wire contract (ingest/contract.py): full matches only, and one home for every rule."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ingest.contract import (
    COMMAND_ID,
    DEVICE_ID,
    METRIC_NAME,
    TOPIC_PREFIX,
    is_metric_name,
    parse_topic,
)
from ingest.errors import PayloadError

INGEST = Path(__file__).parents[2] / "ingest"
PATTERNS = {
    "TOPIC_PREFIX": TOPIC_PREFIX,
    "DEVICE_ID": DEVICE_ID,
    "METRIC_NAME": METRIC_NAME,
    "COMMAND_ID": COMMAND_ID,
}


@pytest.mark.parametrize(
    ("name", "good"),
    [("TOPIC_PREFIX", "sf"), ("DEVICE_ID", "dev-x"), ("METRIC_NAME", "temp"), ("COMMAND_ID", "c1")],
)
def test_a_trailing_newline_never_matches(name: str, good: str) -> None:
    pattern = PATTERNS[name]
    assert pattern.fullmatch(good)
    assert pattern.match(good + "\n"), "re's `$` accepts a trailing newline: why only fullmatch is used"
    for bad in (good + "\n", good + "\r", "\n" + good, good + "\x00", good + " "):
        assert not pattern.fullmatch(bad), repr(bad)


def test_no_module_matches_a_contract_pattern_with_match_or_search() -> None:
    """`.match`/`.search` on an anchored pattern lets `dev-x\\n` through; only `fullmatch` is allowed."""
    use = re.compile(r"\b(?:" + "|".join(PATTERNS) + r")\.(?:match|search)\(")
    offenders = [
        f"{path.relative_to(INGEST)}:{n}"
        for path in INGEST.rglob("*.py")
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if use.search(line)
    ]
    assert offenders == []


def test_no_module_has_its_own_copy_of_an_id_or_name_rule() -> None:
    # COMMAND_ID's shape is shared by unrelated settings (share group, client id), so it is not checked.
    rules = (TOPIC_PREFIX, DEVICE_ID, METRIC_NAME)
    copies = [
        f"{path.relative_to(INGEST)}"
        for path in INGEST.rglob("*.py")
        if path.name != "contract.py"
        for pattern in rules
        if pattern.pattern in path.read_text()
    ]
    assert copies == []


def test_topics() -> None:
    assert parse_topic("sf", "sf/dev-1/telemetry") == ("dev-1", "telemetry")
    assert parse_topic("sf", "sf/dev-1/cmd/result") == ("dev-1", "cmd_result")
    for bad in (
        "sf/dev-1\n/telemetry",
        "sf/Dev/status",
        "xx/dev-1/status",
        "sf/dev-1/cmd",
        "sf/+/status",
        "sf//status",
    ):
        with pytest.raises(PayloadError):
            parse_topic("sf", bad)
    assert DEVICE_ID.fullmatch("a" * 63) and not DEVICE_ID.fullmatch("a" * 64)
    assert is_metric_name("temperature") and not is_metric_name("time") and not is_metric_name("device")
