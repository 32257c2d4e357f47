"""InfluxDB down for 60 s in the middle of a run: messages are spooled and acknowledged, then replayed."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from ingest_kit import IngestProcess, Publisher, influx_backend

from support.influx import InfluxDB
from support.mosquitto import Mosquitto
from support.procs import wait_until

OUTAGE_S = 15
"""Long enough to spool many batches; the fault suite (test_rel_influx) and `bench reliability` stop it
longer (20 and 120 s)."""
BASE_MS = int(time.time() * 1000) - 3_600_000


@pytest.mark.slow
def test_influxdb_stopped_for_15_s_nothing_missing_and_spool_drained(
    tmp_path: Path,
    mosquitto: Mosquitto,
    start_ingest: Callable[..., IngestProcess],
    publisher_factory: Callable[[int], Publisher],
) -> None:
    influx = InfluxDB(tmp_path / "influxdb")
    influx.start()
    try:
        influx.create_database("outage")
        backend = influx_backend(influx, "outage")
        ingest = start_ingest(mosquitto, backend)
        pub = publisher_factory(mosquitto.port)
        sent = 0

        def publish(count: int) -> None:
            nonlocal sent
            for _ in range(count):
                pub.publish_json(f"sf/dev-{sent % 5}/telemetry", {"ts": BASE_MS + sent, "v": sent})
                sent += 1

        publish(1000)
        backend.wait_total(1000, timeout=60)

        influx.stop()
        stop_publishing = threading.Event()

        def trickle() -> None:
            while not stop_publishing.wait(0.1):
                publish(10)

        publishing = threading.Thread(target=trickle)
        publishing.start()
        acked_before = ingest.metrics()["sensorfleet_messages_acked_total"]
        wait_until(lambda: ingest.metrics()["sensorfleet_spool_batches"] > 0, 30, "batches in the spool")
        assert ingest.http.get("/readyz").status_code == 503
        time.sleep(OUTAGE_S)
        stop_publishing.set()
        publishing.join(10)
        during = ingest.metrics()
        # The spool made the messages safe, so they were acknowledged while InfluxDB was down.
        assert during["sensorfleet_messages_acked_total"] - acked_before >= 0.9 * (sent - 1000)
        assert during["sensorfleet_points_spooled_total"] > 0

        influx.start()
        publish(1000)
        pub.wait_acked(60)
        backend.wait_total(sent, timeout=120)
        wait_until(lambda: ingest.metrics()["sensorfleet_spool_batches"] == 0, 60, "the spool to drain")
        assert backend.total() == sent
        assert ingest.ready()
    finally:
        influx.close()
