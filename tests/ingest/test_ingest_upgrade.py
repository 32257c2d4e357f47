"""A data dir kept by the release before device metric names were recorded: on the first start the
registry learns each device's names from the store, once, so a device that stays silent after the
upgrade still shows its newest values."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import delete, func, select

from ingest.codec.payload import Limits, decode_telemetry
from ingest.registry import Registry
from ingest.service import IngestService
from ingest.settings import load_settings
from ingest.state.migrate import open_state
from ingest.state.schema import device_metrics, upgrades
from ingest.storage.sqlite import SqliteStore

NOW_MS = 1_764_000_000_000


def old_data_dir(data: Path) -> None:
    """Points and counts as the previous release kept them: no metric names in the registry."""
    store = SqliteStore(data / "telemetry.sqlite")
    state = open_state(data)
    registry = Registry(state)
    for device, payload in (("dev-1", b'{"ts":%d,"t":1.5,"rh":40}'), ("dev-2", b'{"ts":%d,"door":true}')):
        t = decode_telemetry(device, payload % NOW_MS, NOW_MS, Limits())
        store.write(t.points)
        registry.record([(t, NOW_MS)])
    store.close()
    with state.write() as db:
        db.execute(delete(device_metrics))
        db.execute(delete(upgrades))
    state.close()


def test_the_first_start_learns_metric_names_from_the_store(tmp_path: Path) -> None:
    old_data_dir(tmp_path)
    service = IngestService(load_settings(data_dir=tmp_path))
    assert service.registry.device("dev-1").metrics == ("rh", "t")  # type: ignore[union-attr]
    assert service.store.latest_values({"dev-2": ["door"]}) == {"dev-2": {"door": (NOW_MS, True)}}
    assert not service.registry.needs_metric_names()
    with service.state.read() as db:
        assert db.execute(select(func.count()).select_from(device_metrics)).scalar_one() == 3
    service.store.close()
    service.state.close()


def test_a_new_data_dir_has_nothing_to_learn(tmp_path: Path) -> None:
    assert not Registry(open_state(tmp_path)).needs_metric_names()
