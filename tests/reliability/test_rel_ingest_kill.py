"""`kill -9` of the ingest at random moments while real boards publish: nothing lost, nothing twice."""

from __future__ import annotations

from pathlib import Path

from reliability.scenarios import kill_ingest

from support.influx import InfluxDB


def test_ingest_killed_repeatedly_under_load_loses_nothing(
    tmp_path: Path, influxd: InfluxDB, influx_db: str
) -> None:
    row = kill_ingest(tmp_path, influxd, influx_db, readings=1600, kills=3)
    assert row.lost == 0 and row.stored == row.sent == 3 * 1600


def test_two_ingests_on_a_shared_subscription_killed_in_turn_lose_nothing(
    tmp_path: Path, influxd: InfluxDB, influx_db: str
) -> None:
    row = kill_ingest(tmp_path, influxd, influx_db, readings=1200, kills=3, ingests=2)
    assert row.lost == 0 and row.stored == row.sent == 3 * 1200
