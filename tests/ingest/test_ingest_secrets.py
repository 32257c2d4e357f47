"""The ingest's broker login without a password on any command line: `--mqtt-password-file` (or
SENSORFLEET_MQTT_PASSWORD_FILE) against a real Mosquitto that refuses anonymous clients."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from ingest.errors import ConfigError
from ingest.files import read_secret
from support.mosquitto import Mosquitto, MosquittoOptions
from support.procs import wait_until
from support.serve import ServeProcess


def test_serve_logs_in_with_the_password_from_a_file(
    tmp_path: Path, mosquitto_factory: Callable[..., Mosquitto]
) -> None:
    broker = mosquitto_factory(MosquittoOptions(users={"ingest": "s3cret-pw"}))
    secret = tmp_path / "mqtt-password"
    secret.write_text("s3cret-pw\n")
    secret.chmod(0o600)
    url = f"mqtt://ingest@127.0.0.1:{broker.port}"
    serve = ServeProcess(tmp_path / "good", {"SENSORFLEET_MQTT_URL": url})
    serve.process.argv += ["--mqtt-password-file", str(secret)]
    try:
        serve.start()  # ready: connected to the broker
        assert "s3cret-pw" not in " ".join(serve.process.argv)
    finally:
        serve.close()

    secret.write_text("wrong\n")
    refused = ServeProcess(
        tmp_path / "bad", {"SENSORFLEET_MQTT_URL": url, "SENSORFLEET_MQTT_PASSWORD_FILE": str(secret)}
    )
    refused.process.start()
    try:
        wait_until(lambda: "refused" in refused.process.output(), 30, "the broker refusing the login")
        wait_until(lambda: answers(refused), 30, "serve's HTTP port")
        health = refused.http.get("/readyz").json()
        assert health["broker_connected"] is False and health["ready"] is False
    finally:
        refused.close()


def answers(serve: ServeProcess) -> bool:
    try:
        serve.http.get("/healthz")
    except httpx.HTTPError:
        return False
    return True


def test_a_secret_file_must_hold_the_secret_on_its_first_line(tmp_path: Path) -> None:
    path = tmp_path / "pw"
    path.write_text("pw\r\nignored\n")
    assert read_secret(path) == "pw"
    path.write_text("\n")
    with pytest.raises(ConfigError, match="empty"):
        read_secret(path)
    with pytest.raises(ConfigError, match="cannot read"):
        read_secret(tmp_path / "missing")
