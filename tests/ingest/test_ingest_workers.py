"""`sensorfleet serve --workers 2` against a real Mosquitto: two intake and writer processes share the
telemetry through one shared subscription, every reading is stored and counted once, the API of the
serving process answers for both, and a worker killed with -9 is started again."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import orjson
import pytest

from support.mosquitto import Mosquitto
from support.mqtt import Recorder
from support.procs import free_port, wait_until
from support.serve import ServeProcess

DEVICES = 10
MESSAGES = 30
READINGS = 5


def publish(mosquitto: Mosquitto, first_seq: int) -> None:
    """Each device's next MESSAGES batches of READINGS numbered readings, boot 1."""
    now = int(time.time() * 1000)
    for d in range(DEVICES):
        board = Recorder(mosquitto.port, client_id=f"dev-{d}")
        try:
            for m in range(MESSAGES):
                seq = first_seq + m * READINGS
                batch = {
                    "boot": 1,
                    "seq": seq,
                    "readings": [{"ts": now + seq + i, "v": 1.0} for i in range(READINGS)],
                }
                board.publish(f"sf/dev-{d}/telemetry", orjson.dumps(batch))
        finally:
            board.close()


def counted(serve: ServeProcess) -> dict[str, tuple[int, int, int]]:
    devices = serve.http.get("/api/v1/devices").json()["devices"]
    return {
        d["id"]: (
            d["completeness"]["received"],
            d["completeness"]["duplicates"],
            d["completeness"]["missing"],
        )
        for d in devices
    }


def worker_pids(serve: ServeProcess) -> list[int]:
    """The serving process's children that multiprocessing spawned (its workers)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (stat.parent / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
        if parent == serve.process.pid and b"spawn_main" in cmdline:
            found.append(int(stat.parent.name))
    return found


@pytest.fixture
def serve(tmp_path: Path, mosquitto: Mosquitto) -> ServeProcess:
    found = ServeProcess(
        tmp_path,
        {"SENSORFLEET_MQTT_URL": mosquitto.url, "SENSORFLEET_CLIENT_ID": "workers"},
        ["--workers", "2"],
    )
    found.start()
    wait_until(lambda: "worker workers-w1 started" in found.process.output(), 60, "the second worker")
    return found


def test_two_workers_share_the_telemetry_and_count_every_reading_once(
    serve: ServeProcess, mosquitto: Mosquitto
) -> None:
    try:
        time.sleep(1)  # the worker's subscription reaches the broker after its start
        publish(mosquitto, 0)
        per_device = MESSAGES * READINGS
        wait_until(
            lambda: counted(serve) == {f"dev-{d}": (per_device, 0, 0) for d in range(DEVICES)},
            60,
            "every reading",
        )
        received_here = serve.metrics()["sensorfleet_messages_received_total"]
        assert 0 < received_here < DEVICES * MESSAGES, "the serving process took every message itself"

        [child] = worker_pids(serve)
        os.kill(child, signal.SIGKILL)
        wait_until(lambda: worker_pids(serve) not in ([], [child]), 30, "the worker started again")
        wait_until(
            lambda: "worker workers-w1 started" in serve.process.output().split("exited")[-1], 60, "its start"
        )
        time.sleep(1)
        publish(mosquitto, per_device)
        wait_until(
            lambda: counted(serve) == {f"dev-{d}": (2 * per_device, 0, 0) for d in range(DEVICES)},
            60,
            "the rest",
        )
    finally:
        serve.close()


def test_the_embedded_broker_runs_one_worker(tmp_path: Path) -> None:
    serve = ServeProcess(tmp_path, {"SENSORFLEET_EMBEDDED_BROKER_PORT": str(free_port())}, ["--workers", "3"])
    serve.start()
    try:
        assert "no shared subscriptions: running 1 worker, not 3" in serve.process.output()
        assert worker_pids(serve) == []
    finally:
        serve.close()
