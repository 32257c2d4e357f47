"""`sensorfleet serve` as a real process: every reading published with QoS 1 ends up stored, exactly once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from ingest_kit import Backend, IngestProcess, Publisher, influx_backend, sqlite_backend

from support.influx import InfluxDB
from support.mosquitto import Mosquitto, MosquittoOptions
from support.procs import free_port, wait_until

BASE_MS = int(time.time() * 1000) - 3_600_000  # an hour ago: inside the accepted window


def test_20_devices_x_1000_readings_flat_and_batched_all_stored(
    mosquitto: Mosquitto,
    backend: Backend,
    start_ingest: Callable[..., IngestProcess],
    publisher_factory: Callable[[int], Publisher],
) -> None:
    ingest = start_ingest(mosquitto, backend)
    pub = publisher_factory(mosquitto.port)
    for d in range(20):
        device = f"dev-{d:02d}"
        if d < 10:  # flat readings, one message each
            for i in range(1000):
                pub.publish_json(f"sf/{device}/telemetry", {"ts": BASE_MS + i * 10, "v": i, "on": i % 2 == 0})
        else:  # batches of 20 numbered readings
            for first in range(0, 1000, 20):
                readings = [{"ts": BASE_MS + i * 10, "v": i} for i in range(first, first + 20)]
                pub.publish_json(f"sf/{device}/telemetry", {"boot": 3, "seq": first, "readings": readings})
    pub.wait_acked(120)
    backend.wait_total(20_000, timeout=120)
    assert backend.count() == {f"dev-{d:02d}": 1000 for d in range(20)}
    assert ingest.registry_device("dev-15") == (1000, 0)
    metrics = ingest.metrics()
    assert metrics["sensorfleet_readings_received_total"] == 20_000
    assert metrics["sensorfleet_dead_letters_total"] == 0


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_kill_9_five_times_loses_nothing(
    mosquitto: Mosquitto,
    backend: Backend,
    start_ingest: Callable[..., IngestProcess],
    publisher_factory: Callable[[int], Publisher],
) -> None:
    total = 20_000
    ingest = start_ingest(mosquitto, backend)
    pub = publisher_factory(mosquitto.port)

    def publish_all() -> None:
        for i in range(total):
            doc = {"boot": 1, "seq": i // 4, "ts": BASE_MS + i // 4, "v": i}
            pub.publish_json(f"sf/dev-{i % 4}/telemetry", doc)
            if i % 500 == 499:
                time.sleep(0.4)  # spread the run so the kills land in the middle of it

    publishing = threading.Thread(target=publish_all)
    publishing.start()
    stored_at_kills = []
    for _ in range(5):
        time.sleep(1.0)
        stored_at_kills.append(backend.total())
        ingest.kill()
        ingest.start()
    publishing.join(120)
    # The SQLite store here; InfluxDB under the same kills is tests/reliability/test_rel_ingest_kill.py's,
    # with real boards.
    assert sum(n < total for n in stored_at_kills) >= 4, f"kills did not land mid-run: {stored_at_kills}"
    pub.wait_acked(60)
    backend.wait_total(total, timeout=120)
    assert backend.count() == {f"dev-{d}": total // 4 for d in range(4)}
    # The redeliveries of unacknowledged messages were counted, never stored twice.
    received, duplicates = ingest.registry_device("dev-0")
    assert received - duplicates == total // 4


HOSTILE: list[bytes] = [
    b"{not json",
    b"\xff\xfe\x00garbage",
    b'{"v": NaN}',
    b'{"v": Infinity}',
    b'{"v": 1e999}',
    b'{"v": "21.5"}',
    b'{"v": null}',
    b'{"v": [1, 2]}',
    b'{"v": {"nested": 1}}',
    b"[1, 2, 3]",
    b'"just a string"',
    b"{}",
    b'{"ts": "yesterday", "v": 1}',
    b'{"ts": 1.5e12, "v": 1}',
    b'{"ts": 1000, "v": 1}',
    b'{"ts": 99999999999999, "v": 1}',
    b'{"age": -5, "v": 1}',
    b'{"ts": 1, "age": 1, "v": 1}',
    b'{"bad\nname": 1}',
    b'{"a,b": 1}',
    b'{"a=b": 1}',
    b'{"a b": 1}',
    b'{"a\\"b": 1}',
    b'{"a\\\\b": 1}',
    b'{"_private": 1}',
    b'{"v": 1, "label": "x\ny,z=\\"q\\" \\\\"}',
    b'{"device": "dev-other", "v": 1}',
    b'{"boot": 1, "seq": -1, "readings": [{"v": 1}]}',
    b'{"boot": 1, "seq": 0, "readings": []}',
    b'{"boot": 1, "seq": 0, "readings": [{"v": 1}, "x"]}',
    b'{"boot": 1, "readings": [{"v": 1}]}',
    b'{"v": 1, "pad": "' + b"x" * (1024 * 1024) + b'"}',
]


def test_hostile_payloads_are_dead_lettered_and_good_messages_around_them_arrive(
    mosquitto: Mosquitto,
    backend: Backend,
    start_ingest: Callable[..., IngestProcess],
    publisher_factory: Callable[[int], Publisher],
) -> None:
    ingest = start_ingest(mosquitto, backend)
    pub = publisher_factory(mosquitto.port)
    good = 0
    for bad in HOSTILE:
        pub.publish_json("sf/dev-a/telemetry", {"ts": BASE_MS + good, "v": good})
        good += 1
        pub.publish("sf/dev-a/telemetry", bad)
    # A topic with an invalid device id, and a payload naming another device: neither stores anything.
    pub.publish("sf/Not_A_Device/telemetry", b'{"v": 1}')
    pub.publish_json("sf/dev-b/telemetry", {"device": "dev-a", "ts": BASE_MS, "v": 1})
    pub.publish_json("sf/dev-a/telemetry", {"ts": BASE_MS + good, "v": good})
    good += 1
    pub.wait_acked(60)
    backend.wait_total(good, timeout=60)
    expected_dead = len(HOSTILE) + 2
    wait_until(lambda: len(ingest.dead_letters()) >= expected_dead, 30, "dead letters")
    letters = ingest.dead_letters()
    assert len(letters) == expected_dead
    assert backend.count() == {"dev-a": good}
    assert {payload for _, _, payload in letters[:-3]} <= set(HOSTILE)
    assert all(reason for _, reason, _ in letters)
    assert ingest.metrics()["sensorfleet_dead_letters_total"] == expected_dead


def test_without_broker_and_store_urls_it_runs_an_embedded_broker_and_stores_in_sqlite(
    tmp_path: Path, publisher_factory: Callable[[int], Publisher]
) -> None:
    port = free_port()
    ingest = IngestProcess(tmp_path, {"SENSORFLEET_EMBEDDED_BROKER_PORT": str(port)})
    ingest.start()
    try:
        backend = sqlite_backend(ingest.data_dir)
        pub = publisher_factory(port)
        for i in range(200):
            pub.publish_json(f"sf/dev-{i % 2}/telemetry", {"ts": BASE_MS + i, "v": i})
        pub.wait_acked(30)
        backend.wait_total(200, timeout=30)
        assert backend.count() == {"dev-0": 100, "dev-1": 100}
    finally:
        ingest.stop()
    assert "Traceback" not in ingest.process.output()


def test_broker_restart_the_ingest_reconnects_and_resubscribes(
    mosquitto_factory: Callable[..., Mosquitto],
    influxd: InfluxDB,
    influx_db: str,
    start_ingest: Callable[..., IngestProcess],
    publisher_factory: Callable[[int], Publisher],
) -> None:
    broker = mosquitto_factory(MosquittoOptions(persistence=False))  # the restart forgets our session
    backend = influx_backend(influxd, influx_db)
    ingest = start_ingest(broker, backend)
    pub = publisher_factory(broker.port)
    for i in range(500):
        pub.publish_json(f"sf/dev-{i % 5}/telemetry", {"ts": BASE_MS + i, "v": i})
    pub.wait_acked(60)
    backend.wait_total(500, timeout=60)
    pub.close()

    broker.restart()
    wait_until(lambda: ingest.metrics()["sensorfleet_broker_connected"] == 1, 60, "the ingest to reconnect")
    pub = publisher_factory(broker.port)
    for i in range(500, 1000):
        pub.publish_json(f"sf/dev-{i % 5}/telemetry", {"ts": BASE_MS + i, "v": i})
    pub.wait_acked(60)
    backend.wait_total(1000, timeout=60)
    assert backend.count() == {f"dev-{d}": 200 for d in range(5)}


def test_two_processes_on_a_shared_subscription_split_the_load_and_store_everything(
    mosquitto: Mosquitto,
    influxd: InfluxDB,
    influx_db: str,
    start_ingest: Callable[..., IngestProcess],
    publisher_factory: Callable[[int], Publisher],
) -> None:
    backend = influx_backend(influxd, influx_db)
    first = start_ingest(mosquitto, backend, SENSORFLEET_SHARE_GROUP="ingest")
    second = start_ingest(mosquitto, backend, SENSORFLEET_SHARE_GROUP="ingest")
    pub = publisher_factory(mosquitto.port)
    for i in range(2000):
        pub.publish_json(f"sf/dev-{i % 10}/telemetry", {"ts": BASE_MS + i, "v": i})
    pub.wait_acked(60)
    backend.wait_total(2000, timeout=60)
    assert backend.count() == {f"dev-{d}": 200 for d in range(10)}
    received = [p.metrics()["sensorfleet_messages_received_total"] for p in (first, second)]
    assert sum(received) == 2000 and min(received) > 0, received
    # Statuses and command results are not split: each process's API knows them all.
    pub.publish_json("sf/dev-1/status", {"online": True, "fw": "1.2.3"})
    pub.publish_json("sf/dev-1/cmd/result", {"id": "c-shared", "ok": True, "result": {"pong": 1}})
    pub.wait_acked(30)
    result = "/api/v1/devices/dev-1/commands/c-shared"
    for ingest in (first, second):
        wait_until(
            lambda ingest=ingest: ingest.http.get(result).status_code == 200, 30, "the result everywhere"
        )
        answer = ingest.http.get(result).json()
        assert answer["status"] == "ok" and answer["result"] == {"pong": 1}, answer
        assert ingest.http.get("/api/v1/devices/dev-1").json()["fw"] == "1.2.3"
