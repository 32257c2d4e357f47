"""The limit of the promise: Mosquitto killed with `kill -9` while it holds the queue of a stopped
ingest. It loses what it acknowledged since its last save (bench/reliability.py measures that window
for several settings); saving on every change narrows the window to what the boards had in flight."""

from __future__ import annotations

from pathlib import Path

from reliability.scenarios import broker_kill_window

from support.influx import InfluxDB

SAVE_ON_EVERY_CHANGE = "autosave_on_changes true\nautosave_interval 1\n"
IN_FLIGHT = 3 * 4 * 20
"""Three boards, each with a window of 4 unacknowledged batches of at most 20 readings."""


def test_broker_saving_on_every_change_loses_at_most_what_was_in_flight_to_kill_9(
    tmp_path: Path, influxd: InfluxDB, influx_db: str
) -> None:
    row = broker_kill_window(tmp_path, influxd, influx_db, 600, kill_after_s=4, autosave=SAVE_ON_EVERY_CHANGE)
    # Mosquitto acknowledges a message before the save that includes it: a few messages can be lost.
    assert row.sent == 3 * 600 and row.lost <= IN_FLIGHT, row
