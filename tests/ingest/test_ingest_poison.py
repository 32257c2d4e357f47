"""Poison on the embedded broker with the SQLite store (what `make demo` runs): a batch whose seq
overflows a signed 64-bit, a device id and a metric name with a trailing newline. Each one is a dead
letter with its reason; the other devices' readings queued behind them are all stored, before and
after a restart, and the device list answers."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from ingest_kit import IngestProcess, Publisher, sqlite_backend

from support.procs import free_port

BASE_MS = int(time.time() * 1000) - 3_600_000
SEQ_OVERFLOW = b'{"boot":3,"seq":9223372036854775807,"readings":[{"t":1.0},{"t":2.0}]}'


def test_poison_on_the_embedded_broker_blocks_no_other_reading(
    tmp_path: Path, publisher_factory: Callable[[int], Publisher]
) -> None:
    port = free_port()
    ingest = IngestProcess(tmp_path, {"SENSORFLEET_EMBEDDED_BROKER_PORT": str(port)})
    ingest.start()
    backend = sqlite_backend(ingest.data_dir)
    try:
        pub = publisher_factory(port)
        pub.publish("sf/evil/telemetry", SEQ_OVERFLOW)
        pub.publish_json("sf/dev-x\n/telemetry", {"ts": BASE_MS, "v": 1.0})
        pub.publish_json("sf/evil/telemetry", {"ts": BASE_MS, "temp\n": 1.0})
        for i in range(200):
            pub.publish_json(
                f"sf/dev-{i % 2}/telemetry", {"boot": 1, "seq": i // 2, "ts": BASE_MS + i, "v": i}
            )
        pub.wait_acked(30)
        backend.wait_total(200, timeout=30)
        assert backend.count() == {"dev-0": 100, "dev-1": 100}
        reasons = [reason for _, reason, _ in ingest.dead_letters()]
        assert len(reasons) == 3, reasons
        assert "signed 64-bit" in reasons[0]
        assert "device id 'dev-x\\n' in topic is invalid" in reasons[1]
        assert "invalid metric name 'temp\\n'" in reasons[2]
        listing = ingest.http.get("/api/v1/devices")
        assert listing.status_code == 200
        assert [d["id"] for d in listing.json()["devices"]] == ["dev-0", "dev-1"]
        assert ingest.http.get("/readyz").status_code == 200

        ingest.stop()
        ingest.start()
        pub.publish_json("sf/dev-0/telemetry", {"boot": 1, "seq": 100, "ts": BASE_MS + 500, "v": 1})
        backend.wait_total(201, timeout=30)
        assert backend.count() == {"dev-0": 101, "dev-1": 100}
        assert len(ingest.dead_letters()) == 3  # acknowledged: nothing was redelivered
    finally:
        ingest.close()
    assert "Traceback" not in ingest.process.output()
