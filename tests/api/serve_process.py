"""`sensorfleet serve` as a real process for the API tests, with a token store in its data dir."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import httpx

from ingest.api.tokens import Scope, TokenStore
from support.procs import Process, free_port, wait_until

SENSORFLEET = str(Path(sys.executable).parent / "sensorfleet")


class Serve:
    def __init__(self, workdir: Path, mqtt_url: str):
        self.data_dir = workdir / "data"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.tokens = TokenStore(self.data_dir)
        self._auth = {"Authorization": f"Bearer {self.tokens.create(Scope.READ, 'readiness probe')[0]}"}
        env = {
            **os.environ,
            "SENSORFLEET_DATA_DIR": str(self.data_dir),
            "SENSORFLEET_HTTP_PORT": str(self.port),
        }
        env |= {"SENSORFLEET_MQTT_URL": mqtt_url, "SENSORFLEET_CLIENT_ID": "api-serve-test"}
        self.process = Process([SENSORFLEET, "serve"], workdir / "serve.log", env=env)

    def start(self) -> None:
        self.process.start()
        wait_until(self._ready, 60, "sensorfleet serve /readyz")

    def _ready(self) -> bool:
        self.process.check_alive("sensorfleet serve")
        try:
            return httpx.get(f"{self.url}/readyz", headers=self._auth, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False
