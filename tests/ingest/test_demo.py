"""`sensorfleet demo` runs the whole chain on one machine: embedded broker, SQLite, five virtual boards
running the real firmware, the API and the dashboard."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import httpx

from support.influx import InfluxDB
from support.mosquitto import Mosquitto
from support.procs import Process, free_port, wait_until

BOARDS = [f"sim-{i}" for i in range(1, 6)]


def test_demo_makes_all_five_boards_queryable_and_replays_a_dropped_board(tmp_path: Path) -> None:
    http_port = free_port()
    demo = Process(
        [
            sys.executable, "-m", "ingest", "demo",
            "--data-dir", str(tmp_path / "demo"), "--broker-port", str(free_port()),
            "--http-port", str(http_port), "--interval", "0.5",
            "--flap-every", "8", "--flap-off", "3", "--duration", "26",
        ],
        tmp_path / "demo.out",
    )  # fmt: skip
    demo.start()
    try:
        wait_until(lambda: "#token=" in demo.output() or not demo.running(), 60, "the dashboard link")
        match = re.search(r"(http://127\.0\.0\.1:\d+/)#token=(\S+)", demo.output())
        assert match, demo.output()
        base, token = match.groups()
        api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert "<title>sensorfleet</title>" in api.get("/").text

        # sim-5 is away from 5 s to 8 s and from 13 s to 16 s after start; its outbox keeps its readings.
        started = time.monotonic()
        wait_until(lambda: time.monotonic() - started > 19, 30, "the demo's first 18 s")
        devices = {d["id"]: d for d in api.get("/api/v1/devices").json()["devices"]}
        assert sorted(devices) == BOARDS
        for device in BOARDS:
            metrics = sorted(devices[device]["latest"]["values"])
            assert metrics, device
            body = api.get(
                f"/api/v1/devices/{device}/series", params={"metric": metrics, "start": "-5m", "every": "1s"}
            ).json()
            answers = body["series"] if len(metrics) > 1 else [body]
            for series in answers:
                assert len(series["points"]) >= 10, (device, series["metric"], len(series["points"]))
        sim5 = devices["sim-5"]["completeness"]
        assert len(sim5["boots"]) >= 2, "sim-5 should have restarted after dropping off"
        assert sim5["missing"] == 0, sim5
    finally:
        code = demo.stop(timeout=30)
    assert code == 0, demo.output()[-2000:]
    assert "stopping" in demo.output()


def test_demo_refuses_flapping_that_never_comes_back(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ingest",
            "demo",
            "--data-dir",
            str(tmp_path),
            "--flap-every",
            "5",
            "--flap-off",
            "5",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "--flap-off < --flap-every" in result.stderr


def test_demo_runs_against_mosquitto_and_influxdb_when_given_their_urls(
    tmp_path: Path, mosquitto: Mosquitto, influxd: InfluxDB, influx_db: str
) -> None:
    http_port = free_port()
    demo = Process(
        [
            sys.executable, "-m", "ingest", "demo",
            "--data-dir", str(tmp_path / "demo"), "--mqtt-url", mosquitto.url,
            "--influx-url", influxd.url, "--influx-db", influx_db,
            "--http-port", str(http_port), "--interval", "0.5", "--flap-every", "0", "--duration", "60",
        ],
        tmp_path / "demo.out",
    )  # fmt: skip
    demo.start()
    try:
        # Every board's readings reach InfluxDB itself, not only the API.
        def all_boards_stored() -> bool:
            demo.check_alive("sensorfleet demo")
            series = influxd.query('SELECT count("seq") FROM "telemetry" GROUP BY "device"', db=influx_db)
            return sorted(s["tags"]["device"] for s in series if s["values"][0][1] >= 5) == BOARDS

        wait_until(all_boards_stored, 50, "readings of all five boards in InfluxDB")
        link = re.search(r"(http://127\.0\.0\.1:\d+/)#token=(\S+)", demo.output())
        assert link, demo.output()
        base, token = link.groups()
        devices = httpx.get(f"{base}api/v1/devices", headers={"Authorization": f"Bearer {token}"}).json()
        kinds = {frozenset(d["latest"]["values"]) for d in devices["devices"]}
        assert len(kinds) == len(BOARDS), "each of the five boards measures something else"
    finally:
        assert demo.stop(timeout=30) == 0, demo.output()[-2000:]
