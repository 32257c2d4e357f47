"""A data dir kept by the release before device metric names were recorded: on the first start the
registry learns each device's names from the store, once, so a device that stays silent after the
upgrade still shows its newest values."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ingest.codec.payload import Limits, decode_telemetry
from ingest.registry import REGISTRY_FILE, Registry
from ingest.service import IngestService
from ingest.settings import load_settings
from ingest.storage.sqlite import SqliteStore

NOW_MS = 1_764_000_000_000


def old_data_dir(data: Path) -> None:
    """Points and counts as the previous release kept them: no metric names in the registry."""
    store = SqliteStore(data / "telemetry.sqlite")
    registry = Registry(data / REGISTRY_FILE)
    for device, payload in (("dev-1", b'{"ts":%d,"t":1.5,"rh":40}'), ("dev-2", b'{"ts":%d,"door":true}')):
        t = decode_telemetry(device, payload % NOW_MS, NOW_MS, Limits())
        store.write(t.points)
        registry.record([(t, NOW_MS)])
    store.close()
    registry.close()
    with sqlite3.connect(data / REGISTRY_FILE) as db:
        db.execute("DROP TABLE device_metrics")
        db.execute("DROP TABLE upgrades")


def test_the_first_start_learns_metric_names_from_the_store(tmp_path: Path) -> None:
    old_data_dir(tmp_path)
    service = IngestService(load_settings(data_dir=tmp_path))
    assert service.registry.device("dev-1").metrics == ("rh", "t")  # type: ignore[union-attr]
    assert service.store.latest_values({"dev-2": ["door"]}) == {"dev-2": {"door": (NOW_MS, True)}}
    assert not service.registry.needs_metric_names()
    service.registry.close()
    service.store.close()
    with sqlite3.connect(tmp_path / REGISTRY_FILE) as db:
        assert db.execute("SELECT COUNT(*) FROM device_metrics").fetchone() == (3,)


def test_a_new_data_dir_has_nothing_to_learn(tmp_path: Path) -> None:
    assert not Registry(tmp_path / REGISTRY_FILE).needs_metric_names()
