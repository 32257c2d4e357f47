"""The API inside a real `sensorfleet serve` process, with a real Mosquitto and the SQLite store: a reading
published over MQTT reaches a stream client within a second, and serve stops promptly with a stream open."""

from __future__ import annotations

import time

import httpx
import orjson
from api.sse import SseReader

from ingest.api.tokens import Scope
from support.mosquitto import Mosquitto
from support.mqtt import Recorder
from support.procs import wait_until
from support.serve import ServeProcess


def test_a_reading_over_mqtt_reaches_a_stream_client_of_serve_within_a_second(
    serve: ServeProcess, mosquitto: Mosquitto
) -> None:
    token = serve.tokens.create(Scope.READ)[0]
    stream = SseReader(f"{serve.url}/api/v1/stream", token, {"device": "dev-1"})
    board = Recorder(mosquitto.port, client_id="dev-1")
    try:
        for n in range(5):
            sent = time.monotonic()
            board.publish("sf/dev-1/telemetry", orjson.dumps({"ts": int(time.time() * 1000), "n": float(n)}))
            got = stream.wait_for(
                lambda e, n=n: e.kind == "reading" and e.data["values"].get("n") == n, 5, "it"
            )
            assert got.at - sent < 1.0, f"reading {n} took {got.at - sent:.3f} s"
        # And it was stored: the series has all five.
        api = httpx.Client(base_url=serve.url, headers={"Authorization": f"Bearer {token}"})
        wait_until(
            lambda: api.get("/api/v1/devices/dev-1/latest").json()["values"].get("n") == 4.0, 10, "stored"
        )
        count = api.get("/api/v1/devices/dev-1/series", params={"metric": "n", "agg": "count", "every": "1d"})
        assert sum(v for _, v in count.json()["points"]) == 5
    finally:
        board.close()
        stream.close()


def test_serve_stops_promptly_while_a_stream_is_open(serve: ServeProcess) -> None:
    stream = SseReader(f"{serve.url}/api/v1/stream", serve.tokens.create(Scope.READ)[0])
    try:
        began = time.monotonic()
        assert serve.process.stop(timeout=30) is not None
        assert time.monotonic() - began < 10
    finally:
        stream.close()


def test_serve_publishes_its_openapi_and_guards_the_api(serve: ServeProcess) -> None:
    schema = serve.http.get("/openapi.json").json()
    assert "/api/v1/devices/{device}/series" in schema["paths"]
    assert httpx.get(f"{serve.url}/api/v1/devices").status_code == 401
    token = serve.tokens.create(Scope.READ)[0]
    r = httpx.get(f"{serve.url}/api/v1/devices", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and r.json()["devices"] == []


def test_an_alert_transition_is_published_on_the_alerts_topic(
    serve: ServeProcess, mosquitto: Mosquitto
) -> None:
    watcher = Recorder(mosquitto.port, ["sf/$alerts"], client_id="alerts-watcher")
    board = Recorder(mosquitto.port, client_id="dev-7")
    try:
        rule = {"name": "gone", "selector": {"all": True}, "condition": {"kind": "offline"}}
        assert serve.http.post("/api/v1/alert-rules", json=rule).status_code == 201
        time.sleep(1.5)  # the rules are re-read each tick (1 s)
        board.publish("sf/dev-7/status", orjson.dumps({"online": False}))
        [sent] = watcher.wait_for(1, 15)
        body = orjson.loads(sent.payload)
        assert (body["status"], body["alerts"][0]["labels"]) == (
            "firing", {"alertname": "gone", "severity": "warning", "device": "dev-7"},
        )  # fmt: skip
        assert sent.qos == 1
        board.publish("sf/dev-7/status", orjson.dumps({"online": True}))
        assert orjson.loads(watcher.wait_for(2, 15)[1].payload)["status"] == "resolved"
    finally:
        watcher.close()
        board.close()
