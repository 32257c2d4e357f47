"""The limit of the promise: Mosquitto killed with `kill -9` while it holds the queue of a stopped
ingest. It loses what it accepted since its last save (bench/reliability.py measures that window);
saving on every change closes it."""

from __future__ import annotations

from pathlib import Path

from reliability.scenarios import broker_kill_window

from support.influx import InfluxDB

SAVE_ON_EVERY_CHANGE = "autosave_on_changes true\nautosave_interval 1\n"


def test_broker_saving_on_every_change_loses_nothing_to_kill_9(
    tmp_path: Path, influxd: InfluxDB, influx_db: str
) -> None:
    row = broker_kill_window(tmp_path, influxd, influx_db, 600, kill_after_s=4, autosave=SAVE_ON_EVERY_CHANGE)
    assert row.lost == 0 and row.stored == row.sent == 3 * 600
