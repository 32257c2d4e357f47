"""InfluxDB killed, frozen with SIGSTOP, or refusing writes with 503/429/413: the spool and the
retries keep every reading, and each is stored once."""

from __future__ import annotations

from pathlib import Path

import pytest
from reliability.scenarios import influx_outage, influx_refusals

from support.influx import InfluxDB

READINGS = 1000


@pytest.mark.parametrize("how", ["kill", "freeze"])
def test_influxdb_down_or_hung_for_a_while_loses_nothing(tmp_path: Path, how: str) -> None:
    row = influx_outage(tmp_path, READINGS, outage_s=10 if how == "kill" else 5, how=how)
    assert row.lost == 0 and row.stored == row.sent == 3 * READINGS


def test_influxdb_answering_503_429_413_loses_nothing(
    tmp_path: Path, influxd: InfluxDB, influx_db: str
) -> None:
    row = influx_refusals(tmp_path, influxd, influx_db, READINGS // 2, rounds=2)
    assert row.lost == 0 and row.stored == row.sent == 3 * READINGS // 2
