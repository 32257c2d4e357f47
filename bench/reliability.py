"""Reliability benchmark: the fault scenarios of tests/reliability/ run longer (about 8 minutes in all)
over the whole chain (virtual boards running the real firmware → Mosquitto with the provisioned ACL →
`sensorfleet serve` → InfluxDB 1.x). One row per scenario: the load held, the faults injected, the
readings the boards took, how many InfluxDB holds, how many were lost (0 everywhere but the broker
`kill -9` rows, which measure the limit), the redeliveries the registry collapsed, and the time to
recover after the last fault."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reliability.scenarios import (
    Row,
    board_outage,
    broker_kill_window,
    broker_restart,
    influx_outage,
    influx_refusals,
    kill_ingest,
    silent_path,
)

from tests.support.influx import InfluxDB

SHIPPED_AUTOSAVE = "autosave_interval 10\n"
"""What deploy/mosquitto/mosquitto.conf sets."""


def run() -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="bench-reliability-") as tmp:
        root = Path(tmp)
        influx = InfluxDB(root / "influxdb")
        influx.start()
        databases = iter(range(100))

        def on_shared(scenario: Callable[..., Row], *args: Any, **kwargs: Any) -> Row:
            db = f"r{next(databases)}"
            influx.create_database(db)
            return scenario(root / db, influx, db, *args, **kwargs)

        try:
            rows = [
                on_shared(kill_ingest, readings=4500, kills=10),
                on_shared(kill_ingest, readings=4500, kills=10, ingests=2),
                influx_outage(root / "influx-kill", readings=4000, outage_s=120, how="kill"),
                influx_outage(root / "influx-freeze", readings=3000, outage_s=30, how="freeze"),
                on_shared(influx_refusals, readings=3000, rounds=5),
                on_shared(broker_restart, readings=3000, restarts=5),
                on_shared(board_outage, readings=3600, interval_s=0.005),
                on_shared(silent_path, readings=3000, keepalive_s=5),
                on_shared(broker_kill_window, 2000, kill_after_s=15, autosave=SHIPPED_AUTOSAVE),
                on_shared(broker_kill_window, 2000, kill_after_s=15, autosave="autosave_interval 1\n"),
                on_shared(
                    broker_kill_window,
                    2000,
                    kill_after_s=15,
                    autosave="autosave_on_changes true\nautosave_interval 1\n",
                ),
            ]
        finally:
            influx.close()
    return [row.as_dict() for row in rows]
