"""Each device's status changes in the registry: `online` flips, new boots and new firmware are recorded;
repeats, retained redeliveries included, are not; the newest are kept, across a restart."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from ingest.codec.payload import Status
from ingest.registry import Registry, StatusChange
from ingest.state.migrate import open_state
from ingest.state.schema import status_changes

BIRTH = Status(True, "0.3.1", 4, -61.0, {"uptime_s": 0, "outbox": 0})
WILL = Status(False)


def test_changes_of_online_boot_and_fw_are_recorded_newest_first(state_url: str, tmp_path: Path) -> None:
    registry = Registry(open_state(tmp_path, state_url))
    registry.set_status("dev-1", BIRTH, 1000)
    registry.set_status("dev-1", WILL, 2000)
    registry.set_status("dev-1", Status(True, "0.3.1", 5, -60.0), 3000)
    registry.set_status("dev-1", Status(True, "0.4.0", 6, -60.0), 4000)
    registry.set_status("dev-2", BIRTH, 1500)

    assert registry.status_changes("dev-1") == [
        StatusChange(4000, True, "0.4.0", 6, ("boot", "fw"), retained=False),
        StatusChange(3000, True, "0.3.1", 5, ("online", "boot"), retained=False),
        # The last will carries neither fw nor boot: the entry keeps the ones it had.
        StatusChange(2000, False, "0.3.1", 4, ("online",), retained=False),
        StatusChange(1000, True, "0.3.1", 4, ("online", "boot", "fw"), retained=False),
    ]
    assert registry.status_changes("dev-1", limit=2) == registry.status_changes("dev-1")[:2]
    assert [c.at_ms for c in registry.status_changes("dev-2")] == [1500]
    assert registry.status_changes("never-seen") == []


def test_repeats_and_retained_redeliveries_are_not_recorded(state_url: str, tmp_path: Path) -> None:
    registry = Registry(open_state(tmp_path, state_url))
    registry.set_status("dev-1", BIRTH, 1000)
    # Same state with other details (rssi, uptime): a periodic status, not a change.
    registry.set_status("dev-1", Status(True, "0.3.1", 4, -70.0, {"uptime_s": 60}), 2000)
    # The ingest reconnects: the broker hands back its retained copy of what is already known.
    registry.set_status("dev-1", BIRTH, 3000, retained=True)
    registry.set_status("dev-1", WILL, 4000)
    registry.set_status("dev-1", WILL, 5000)
    registry.set_status("dev-1", WILL, 6000, retained=True)
    assert [(c.at_ms, c.changed) for c in registry.status_changes("dev-1")] == [
        (4000, ("online",)),
        (1000, ("online", "boot", "fw")),
    ]


def test_a_retained_status_that_differs_is_recorded_as_retained(state_url: str, tmp_path: Path) -> None:
    """While the ingest was away the board rebooted: the retained birth is the only news of that, and
    the same change queued for the session, arriving next, is its repeat."""
    registry = Registry(open_state(tmp_path, state_url))
    registry.set_status("dev-1", BIRTH, 1000)
    rebooted = Status(True, "0.3.1", 5, -61.0)
    registry.set_status("dev-1", rebooted, 9000, retained=True)
    registry.set_status("dev-1", rebooted, 9001)
    assert registry.status_changes("dev-1")[0] == StatusChange(9000, True, "0.3.1", 5, ("boot",), True)
    assert len(registry.status_changes("dev-1")) == 2


def test_only_the_newest_are_kept_and_they_survive_a_reopen(state_url: str, tmp_path: Path) -> None:
    registry = Registry(open_state(tmp_path, state_url), status_changes_kept=5)
    for i in range(12):
        registry.set_status("dev-1", Status(i % 2 == 0, "0.3.1", i // 2), 1000 + i)
        registry.set_status("dev-2", Status(i % 2 == 0), 1000 + i)
    kept = [c.at_ms for c in registry.status_changes("dev-1")]
    assert kept == [1011, 1010, 1009, 1008, 1007]
    assert [c.at_ms for c in registry.status_changes("dev-2")] == kept

    state = open_state(tmp_path, state_url)
    reopened = Registry(state, status_changes_kept=5)
    assert [c.at_ms for c in reopened.status_changes("dev-1")] == kept
    assert reopened.status_changes("dev-1")[0] == StatusChange(1011, False, "0.3.1", 5, ("online",), False)
    with state.read() as db:
        assert db.execute(select(func.count()).select_from(status_changes)).scalar_one() == 10
