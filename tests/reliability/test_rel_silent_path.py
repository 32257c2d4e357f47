"""A network path that goes silent without closing: keepalive notices it on both ends."""

from __future__ import annotations

from pathlib import Path

from reliability.scenarios import silent_path

from support.influx import InfluxDB


def test_black_holed_board_link_is_noticed_by_both_ends_and_reconnects(
    tmp_path: Path, influxd: InfluxDB, influx_db: str
) -> None:
    row = silent_path(tmp_path, influxd, influx_db, readings=1000, keepalive_s=2)
    assert row.lost == 0 and row.stored == row.sent == 1000
