"""The API installed in the real ingest service (in this process) against a real Mosquitto: commands go
out on `<prefix>/<id>/cmd`, and the result a device publishes comes back through the pipeline."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
import pytest
from api.helpers import bearer
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion

from ingest.api.config import ApiSettings
from ingest.api.tokens import Scope, TokenStore
from ingest.app import build_app
from ingest.service import IngestService
from ingest.settings import load_settings
from support.mosquitto import Mosquitto
from support.procs import wait_until


class PahoDevice:
    """A device that answers every command on its result topic: `ping` succeeds, anything else fails."""

    def __init__(self, port: int, device: str):
        self.received: list[dict[str, object]] = []
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=device)
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.subscribe(f"sf/{device}/cmd", qos=1)
        self.client.loop_start()
        self.result_topic = f"sf/{device}/cmd/result"

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        command = orjson.loads(msg.payload)
        self.received.append(command)
        if command["op"] == "ping":
            answer = {"id": command["id"], "ok": True, "result": {"pong": True}}
        else:
            answer = {"id": command["id"], "ok": False, "error": f"unsupported op {command['op']}"}
        client.publish(self.result_topic, orjson.dumps(answer), qos=1)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def service(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[IngestService]:
    settings = load_settings(mqtt_url=mosquitto.url, data_dir=tmp_path / "data", client_id="api-test-ingest")
    found = IngestService(settings)
    found.start()
    wait_until(found.intake.connected.is_set, 20, "the intake's broker connection")
    yield found
    found.stop()


def test_a_command_reaches_the_device_and_its_result_comes_back(
    service: IngestService, mosquitto: Mosquitto
) -> None:
    secret = TokenStore(service.state).create(Scope.COMMAND)[0]
    app = build_app(service, ApiSettings(command_timeout_s=2))
    api = TestClient(app, headers=bearer(secret))
    device = PahoDevice(mosquitto.port, "dev-1")
    try:
        r = api.post(
            "/api/v1/devices/dev-1/commands", params={"wait": 10}, json={"op": "ping", "id": "c-ping"}
        )
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "ok" and r.json()["result"] == {"pong": True}
        assert device.received == [{"id": "c-ping", "op": "ping", "args": {}}]

        r = api.post("/api/v1/devices/dev-1/commands", json={"op": "reboot", "args": {"delay_s": 1}})
        assert r.status_code == 202 and r.json()["status"] == "pending"
        location = r.headers["Location"]
        r = api.get(location, params={"wait": 10})
        assert r.json()["status"] == "error" and "unsupported" in r.json()["error"]
        assert r.json()["op"] == "reboot"

        # Nobody listens for dev-2: the wait ends cleanly, and later the command reads as timed out.
        r = api.post("/api/v1/devices/dev-2/commands", params={"wait": 0.5}, json={"op": "ping"})
        assert r.status_code == 504 and r.json()["status"] == "pending"
        wait_until(lambda: api.get(r.headers["Location"]).json()["status"] == "timeout", 10, "timeout")
        assert api.get("/api/v1/devices/dev-2/commands/never-sent").status_code == 404
    finally:
        device.close()
