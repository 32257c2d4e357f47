"""Static tags of a device in the registry: set, replace, remove, persisted, checked, and seen by a
running service when another process changes them."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.codec.payload import Status
from ingest.contract import MAX_TAG_VALUE_CHARS
from ingest.errors import ConfigError
from ingest.registry import Registry
from ingest.registry.tags import parse_assignment
from ingest.state.migrate import open_state


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_set_replace_remove_and_persist_across_reopen(state_url: str, tmp_path: Path) -> None:
    registry = Registry(open_state(tmp_path, state_url))
    assert registry.tags_for("dev-1") == {}
    assert registry.update_tags("dev-1", {"site": "greenhouse-2", "room": "A 1"}) == {
        "site": "greenhouse-2",
        "room": "A 1",
    }
    assert registry.update_tags("dev-1", {"site": "lab"}, remove=["room"]) == {"site": "lab"}
    registry.update_tags("dev-2", {"zone": "north"})
    assert registry.update_tags("dev-2", {"rack": "7"}, replace=True) == {"rack": "7"}
    registry.update_tags("dev-3", {"site": "x"})
    assert registry.update_tags("dev-3", remove=["site", "never.set"]) == {}

    reopened = Registry(open_state(tmp_path, state_url))
    assert reopened.tags_for("dev-1") == {"site": "lab"}
    assert reopened.tags_for("dev-2") == {"rack": "7"}
    assert reopened.tags_for("dev-3") == {}


@pytest.mark.parametrize(
    ("tags", "remove", "message"),
    [
        ({"device": "x"}, [], "reserved"),
        ({"time": "x"}, [], "reserved"),
        ({"seq": "x"}, [], "reserved"),
        ({"boot": "x"}, [], "reserved"),
        ({"1site": "x"}, [], "invalid tag key"),
        ({"si te": "x"}, [], "invalid tag key"),
        ({"": "x"}, [], "invalid tag key"),
        ({"site": ""}, [], "1 to"),
        ({"site": "x" * (MAX_TAG_VALUE_CHARS + 1)}, [], "1 to"),
        ({"site": "a\nb"}, [], "printable"),
        ({"site": "a\x00b"}, [], "printable"),
        ({"site": " lab"}, [], "surrounding spaces"),
        ({"site": "a\\,b"}, [], "backslash"),
        ({"site": "ok"}, ["device"], "reserved"),
    ],
)
def test_invalid_tags_are_refused_and_nothing_is_stored(
    state_url: str, tmp_path: Path, tags: dict[str, str], remove: list[str], message: str
) -> None:
    registry = Registry(open_state(tmp_path, state_url))
    registry.update_tags("dev-1", {"site": "before"})
    with pytest.raises(ConfigError, match=message):
        registry.update_tags("dev-1", {"zone": "fine", **tags}, remove=remove)
    assert registry.tags_for("dev-1") == {"site": "before"}
    assert Registry(open_state(tmp_path, state_url)).tags_for("dev-1") == {"site": "before"}


def test_an_invalid_device_id_is_refused(state_url: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="device id"):
        Registry(open_state(tmp_path, state_url)).update_tags("Dev 1", {"site": "x"})


def test_parse_assignment() -> None:
    assert parse_assignment("site=a=b") == ("site", "a=b")
    for bad in ("site", "=x", "site=", "device=x"):
        with pytest.raises(ConfigError):
            parse_assignment(bad)


def test_a_running_registry_sees_tags_another_process_set_within_the_check_interval(
    state_url: str,
    tmp_path: Path,
) -> None:
    clock = Clock()
    service = Registry(open_state(tmp_path, state_url), tags_check_s=2.0, clock=clock)
    assert service.tags_for("dev-1") == {}

    cli = Registry(open_state(tmp_path, state_url))  # another connection, as `sensorfleet device tag` opens
    cli.update_tags("dev-1", {"site": "lab"})
    clock.now += 1.0
    assert service.tags_for("dev-1") == {}, "looked again before the interval was up"
    clock.now += 1.0
    assert service.tags_for("dev-1") == {"site": "lab"}

    cli.update_tags("dev-1", remove=["site"])
    assert service.device("dev-1") is None  # never seen: tags alone do not make a device known
    clock.now += 2.0
    assert service.tags_for("dev-1") == {}


def test_the_service_s_own_writes_do_not_reread_the_tags(state_url: str, tmp_path: Path) -> None:
    clock = Clock()
    service = Registry(open_state(tmp_path, state_url), tags_check_s=2.0, clock=clock)
    service.update_tags("dev-1", {"site": "lab"})
    service.set_status("dev-1", Status(True), 1)
    before = service.tags_for("dev-1")
    clock.now += 5.0
    assert service.tags_for("dev-1") is before


def test_devices_show_their_current_tags(state_url: str, tmp_path: Path) -> None:
    service = Registry(open_state(tmp_path, state_url), clock=Clock())
    service.set_status("dev-1", Status(True), 1)
    Registry(open_state(tmp_path, state_url)).update_tags("dev-1", {"site": "lab"})
    info = service.device("dev-1")
    assert info is not None and info.tags == {"site": "lab"}
    assert [d.tags for d in service.devices()] == [{"site": "lab"}]
