"""A device's registry tags on its InfluxDB points (real InfluxDB 1.6.7): written, read back by device
whatever they were, and picked up by a running `sensorfleet serve` when the CLI changes them."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from ingest_kit import IngestProcess, Publisher, influx_backend

from ingest.points import Point
from ingest.registry import Registry
from ingest.state.migrate import open_state
from ingest.storage.base import Agg
from ingest.storage.influx import InfluxStore
from ingest.storage.influx_http import InfluxHttp
from support.influx import InfluxDB
from support.mosquitto import Mosquitto
from support.procs import wait_until
from support.serve import SENSORFLEET

BASE_MS = int(time.time() * 1000) - 3_600_000


def by_site(influxd: InfluxDB, db: str) -> dict[str, int]:
    """Points of field `v` per value of the tag `site` ('' where a point has none)."""
    series = influxd.query('SELECT count("v") FROM "telemetry" GROUP BY "site"', db=db)
    return {s["tags"]["site"]: int(s["values"][0][1]) for s in series}


def test_points_carry_the_device_s_tags_and_are_found_by_device_whatever_they_were(
    tmp_path: Path, influxd: InfluxDB, influx_db: str
) -> None:
    registry = Registry(open_state(tmp_path))
    store = InfluxStore(InfluxHttp(influxd.url, influx_db), tags_for=registry.tags_for)
    registry.update_tags("dev-1", {"site": "greenhouse 2", "v": "a tag named like a metric"})
    store.write([Point("dev-1", BASE_MS + i, {"v": float(i), "seq": i}) for i in range(3)])
    store.write([Point("dev-2", BASE_MS, {"v": 9.0})])
    registry.update_tags("dev-1", {"site": "lab"}, remove=["v"])
    store.write([Point("dev-1", BASE_MS + 3, {"v": 3.0, "seq": 3})])

    site_values = influxd.query('SHOW TAG VALUES FROM "telemetry" WITH KEY = "site"', db=influx_db)
    assert sorted(v for _, v in site_values[0]["values"]) == ["greenhouse 2", "lab"]
    assert by_site(influxd, influx_db) == {"greenhouse 2": 3, "lab": 1, "": 1}

    # Queries filter on `device` only and read fields only: the tags change nothing in what comes back.
    end = BASE_MS + 10
    assert [(p.ts_ms, p.fields) for p in store.points("dev-1", BASE_MS, end)] == [
        (BASE_MS + i, {"v": float(i), "seq": i}) for i in range(4)
    ]
    assert store.series("dev-1", "v", BASE_MS, end) == [(BASE_MS + i, float(i)) for i in range(4)]
    assert store.series("dev-1", "v", BASE_MS, end, Agg.COUNT, 60_000)[0][1] == 4
    assert store.latest_values({"dev-1": ["v"]})["dev-1"]["v"] == (BASE_MS + 3, 3.0)
    store.close()


def test_a_tag_set_with_the_cli_while_serve_runs_reaches_the_points_written_after(
    mosquitto: Mosquitto,
    influxd: InfluxDB,
    influx_db: str,
    start_ingest: Callable[..., IngestProcess],
    publisher_factory: Callable[[int], Publisher],
) -> None:
    backend = influx_backend(influxd, influx_db)
    ingest = start_ingest(mosquitto, backend)
    pub = publisher_factory(mosquitto.port)
    pub.publish_json("sf/dev-1/telemetry", {"ts": BASE_MS, "v": 0})
    backend.wait_total(1, timeout=30)
    assert by_site(influxd, influx_db) == {"": 1}

    subprocess.run(
        [SENSORFLEET, "device", "tag", "dev-1", "site=greenhouse-2", "--data-dir", str(ingest.data_dir)],
        check=True,
        capture_output=True,
        env=ingest.env,
    )
    changed = time.monotonic()
    sent = 1

    def tagged_point_stored() -> bool:
        nonlocal sent
        pub.publish_json("sf/dev-1/telemetry", {"ts": BASE_MS + sent, "v": sent})
        sent += 1
        return by_site(influxd, influx_db).get("greenhouse-2", 0) > 0

    wait_until(tagged_point_stored, 15, "a point tagged site=greenhouse-2", interval=0.25)
    assert time.monotonic() - changed < 10
    pub.wait_acked()
    backend.wait_total(sent, timeout=30)
    counts = by_site(influxd, influx_db)
    assert sum(counts.values()) == sent and counts[""] >= 1
    # Once tagged, every later point is: the untagged ones are the first few only.
    series = influxd.query(
        'SELECT "v" FROM "telemetry" WHERE "device" = \'dev-1\' GROUP BY "site"', db=influx_db
    )
    last_untagged = max(v for s in series if s["tags"]["site"] == "" for _, v in s["values"])
    first_tagged = min(v for s in series if s["tags"]["site"] == "greenhouse-2" for _, v in s["values"])
    assert last_untagged < first_tagged
    assert ingest.http.get("/api/v1/devices/dev-1").json()["tags"] == {"site": "greenhouse-2"}
