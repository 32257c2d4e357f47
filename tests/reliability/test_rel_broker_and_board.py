"""The broker restarted, and a board offline for a long stretch with a power cut in the middle."""

from __future__ import annotations

from pathlib import Path

from reliability.scenarios import board_outage, broker_restart

from support.influx import InfluxDB


def test_broker_restarted_cleanly_boards_and_ingest_reconnect_by_themselves(
    tmp_path: Path, influxd: InfluxDB, influx_db: str
) -> None:
    row = broker_restart(tmp_path, influxd, influx_db, readings=1000, restarts=2)
    assert row.lost == 0 and row.stored == row.sent == 3 * 1000


def test_board_offline_and_power_cycled_delivers_everything_with_its_original_time(
    tmp_path: Path, influxd: InfluxDB, influx_db: str
) -> None:
    row = board_outage(tmp_path, influxd, influx_db, readings=2000, interval_s=0.005)
    assert row.lost == 0 and row.stored == row.sent >= 3000


def test_the_same_on_a_littlefs_flash_as_on_an_esp32(
    tmp_path: Path, influxd: InfluxDB, influx_db: str
) -> None:
    row = board_outage(tmp_path, influxd, influx_db, readings=400, interval_s=0.02, littlefs=True)
    assert row.lost == 0 and row.stored == row.sent >= 600
