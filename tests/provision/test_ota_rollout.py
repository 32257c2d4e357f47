"""A rollout end to end at the protocol level: the real `sensorfleet serve` (chunk server, rollout
engine) behind the generated ACL on a real Mosquitto, and boards that speak the update protocol of
docs/protocol.md as the firmware's client is to: each checks the file list against its offer, pulls
every file in chunks of at most 1 KiB and checks each hash, then reports its trial and its health, or
its rollback."""

from __future__ import annotations

import base64
import hashlib
import queue
import struct
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from provision_kit import Fleet, provisioned_fleet

from ingest.provision.ids import INGEST_USERNAME
from support.mosquitto import Mosquitto
from support.procs import wait_until
from support.serve import ServeProcess

HEADER = struct.Struct(">BBHII")
ASKS, ASK_TIMEOUT_S = 8, 2.0
BOARDS = [f"ota-{n}" for n in range(5)]
FILES = {
    "sensorfleet/app.py": bytes(range(256)) * 20,  # 5 KiB: five chunks
    "sensorfleet/version.py": b'FW = "0.2.0"\n',
    "drivers/sim.py": b"X = 2\n" * 300,
}


class UpdatingBoard:
    """Logs in as its device; answers `ota` commands and pulls the bundle over ota/req → ota/data."""

    def __init__(self, port: int, device: str, password: str, outcome: str = "healthy") -> None:
        self.device, self.outcome, self.fw = device, outcome, "0.1.0"
        self.offers: list[dict[str, object]] = []
        self.files: dict[str, bytes] = {}
        self.failure: str | None = None
        self.hold: threading.Event | None = None
        """When set: the board stays staged until the event is set (a slow reboot)."""
        self._data: queue.Queue[bytes] = queue.Queue()
        self._next_id = 0
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=device, protocol=mqtt.MQTTv311)
        self.client.username_pw_set(device, password)
        self.client.on_message = self._received
        self.client.connect("127.0.0.1", port)
        self.client.subscribe([(f"sf/{device}/cmd", 1), (f"sf/{device}/ota/data", 0)])
        self.client.loop_start()
        self.status()

    def status(self, **fields: object) -> None:
        body = orjson.dumps({"online": True, "fw": self.fw, **fields})
        self.client.publish(f"sf/{self.device}/status", body, qos=1, retain=True)

    def _received(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        if message.topic.endswith("/ota/data"):
            self._data.put(message.payload)
            return
        command = orjson.loads(message.payload)
        self.offers.append(command)
        result = {"id": command["id"], "ok": True, "result": {"ota": "downloading"}}
        client.publish(f"sf/{self.device}/cmd/result", orjson.dumps(result), qos=1)
        threading.Thread(target=self._update, args=(command["args"],), daemon=True).start()

    def fetch(self, version: str, path: str) -> bytes:
        got = b""
        while True:
            self._next_id += 1
            ask = {"v": version, "file": path, "off": len(got), "id": self._next_id, "n": 1024}
            answer = self._ask(ask)
            _, status, req_id, offset, total = HEADER.unpack(answer[: HEADER.size])
            if status != 0 or (req_id, offset) != (self._next_id, len(got)):
                raise RuntimeError(f"{path}: status {status}, id {req_id}, offset {offset}")
            got += answer[HEADER.size :]
            if len(got) == total:
                return got

    def _ask(self, request: dict[str, object]) -> bytes:
        """A request is QoS 0: without an answer it is sent again (an ingest restarting loses it)."""
        for _ in range(ASKS):
            self.client.publish(f"sf/{self.device}/ota/req", orjson.dumps(request), qos=0)
            try:
                while True:  # a late answer to an earlier request is not this one's
                    answer = self._data.get(timeout=ASK_TIMEOUT_S)
                    if HEADER.unpack(answer[: HEADER.size])[2] == request["id"]:
                        return answer
            except queue.Empty:
                continue
        raise RuntimeError(f"no answer to {request['file']} at {request['off']} after {ASKS} requests")

    def _update(self, offer: dict[str, str]) -> None:
        version = offer["v"]
        try:
            self.status(ota="downloading", ota_v=version, ota_progress=0)
            listed = self.fetch(version, "@manifest")
            if hashlib.sha256(listed).hexdigest() != offer["sha256"]:
                raise RuntimeError("manifest mismatch")
            for line in listed.decode().splitlines():
                path, _, sha256 = line.split(" ")
                data = self.fetch(version, path)
                if hashlib.sha256(data).hexdigest() != sha256:
                    raise RuntimeError(f"{path}: wrong hash")
                self.files[path] = data
        except Exception as e:  # reported as the firmware would, the test then sees it
            self.failure = str(e)
            self.status(ota="failed", ota_v=version, ota_reason=self.failure[:200])
            return
        self.status(ota="staged", ota_v=version)
        if self.outcome == "rolled_back":  # the new app crashed at import K times
            self.status(
                ota="rolled_back", ota_v=version, ota_reason="crashed 3 times: ImportError: no module"
            )
            return
        if self.hold is not None:
            self.hold.wait(30)
        self.fw = version
        self.status(ota="trial", ota_v=version)
        self.status(ota="idle", ota_v=version)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def fleet(tmp_path: Path, mosquitto_factory: Callable[..., Mosquitto]) -> Fleet:
    return provisioned_fleet(tmp_path / "data", mosquitto_factory, *BOARDS)


@pytest.fixture
def serve(fleet: Fleet, tmp_path: Path) -> Iterator[ServeProcess]:
    broker, passwords, _ = fleet
    url = f"mqtt://{INGEST_USERNAME}:{passwords[INGEST_USERNAME]}@127.0.0.1:{broker.port}"
    found = ServeProcess(tmp_path, {"SENSORFLEET_MQTT_URL": url, "SENSORFLEET_ROLLOUT_TICK_S": "0.2"})
    try:
        found.start()
        yield found
    finally:
        found.close()


def start(fleet: Fleet, serve: ServeProcess, outcomes: dict[str, str]) -> tuple[list[UpdatingBoard], int]:
    broker, passwords, _ = fleet
    boards = [UpdatingBoard(broker.port, d, passwords[d], outcomes.get(d, "healthy")) for d in BOARDS]
    wait_until(lambda: len(serve.http.get("/api/v1/devices").json()["devices"]) == 5, 15, "the boards known")
    files = {p: base64.b64encode(d).decode() for p, d in FILES.items()}
    assert serve.http.post("/api/v1/firmware", json={"version": "0.2.0", "files": files}).status_code == 201
    body = {"version": "0.2.0", "all": True, "canary": 1, "wave": "2", "health_s": 60}
    started = serve.http.post("/api/v1/rollouts", json=body)
    assert started.status_code == 201, started.text
    return boards, int(started.json()["id"])


def rollout(serve: ServeProcess, rollout_id: int) -> dict[str, Any]:
    found: dict[str, Any] = serve.http.get(f"/api/v1/rollouts/{rollout_id}").json()
    return found


def test_a_rollout_reaches_every_board_canary_first_then_waves(fleet: Fleet, serve: ServeProcess) -> None:
    boards, rollout_id = start(fleet, serve, {})
    try:
        wait_until(lambda: rollout(serve, rollout_id)["state"] == "done", 60, "the rollout done")
        assert all(b.files == FILES and b.failure is None for b in boards)
        devices = rollout(serve, rollout_id)["devices"]
        assert [(d["device"], d["wave"], d["state"]) for d in devices] == [
            ("ota-0", 0, "healthy"), ("ota-1", 1, "healthy"), ("ota-2", 1, "healthy"),
            ("ota-3", 2, "healthy"), ("ota-4", 2, "healthy"),
        ]  # fmt: skip
        fleet_versions = serve.http.get("/api/v1/firmware").json()["fleet"]
        assert fleet_versions == {"0.2.0": 5}
        chunks = 1 + sum(-(-len(d) // 1024) for d in FILES.values())  # the manifest fits in one
        metrics = serve.metrics()
        assert metrics["sensorfleet_ota_chunks_sent_total"] == 5 * chunks
        assert metrics["sensorfleet_ota_requests_refused_total"] == 0
    finally:
        for board in boards:
            board.close()


def test_a_canary_that_rolls_back_halts_the_rollout_before_any_other_board(
    fleet: Fleet, serve: ServeProcess
) -> None:
    boards, rollout_id = start(fleet, serve, {"ota-0": "rolled_back"})
    try:
        wait_until(lambda: rollout(serve, rollout_id)["state"] == "halted", 60, "the rollout halted")
        found = rollout(serve, rollout_id)
        assert found["reason"] == "ota-0: rolled_back: crashed 3 times: ImportError: no module"
        assert [d["state"] for d in found["devices"]] == ["rolled_back"] + ["pending"] * 4
        assert [len(b.offers) for b in boards] == [1, 0, 0, 0, 0]
        assert all(b.fw == "0.1.0" for b in boards)
    finally:
        for board in boards:
            board.close()


def test_the_ingest_killed_mid_rollout_goes_on_from_the_state_store(
    fleet: Fleet, serve: ServeProcess
) -> None:
    boards, rollout_id = start(fleet, serve, {})
    reboot = threading.Event()
    for board in boards[1:]:
        board.hold = reboot
    try:
        wait_until(lambda: all(b.files for b in boards[1:3]), 30, "the first wave staged")
        counts = rollout(serve, rollout_id)["counts"]
        assert (counts["healthy"], counts["pending"]) == (1, 2)  # the canary done, the last wave not offered
        serve.kill()  # kill -9 with the first wave staged and the second not offered yet
        reboot.set()
        serve.start()
        wait_until(lambda: rollout(serve, rollout_id)["state"] == "done", 60, "done after the restart")
        assert all(b.files == FILES and b.fw == "0.2.0" for b in boards)
    finally:
        reboot.set()
        for board in boards:
            board.close()
