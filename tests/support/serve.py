"""`sensorfleet serve` as a real process: its own data dir and HTTP port, and an admin token that every
request of `http` carries (all endpoints but /healthz want one)."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx

from ingest.api.tokens import Scope, TokenStore
from ingest.state.migrate import open_state

from .procs import Process, free_port, wait_until

SENSORFLEET = str(Path(sys.executable).parent / "sensorfleet")


class ServeProcess:
    """Restartable with the same data dir, port and client id; `env` adds SENSORFLEET_* settings and
    `args` command-line options."""

    def __init__(self, workdir: Path, env: Mapping[str, str], args: Sequence[str] = ()):
        workdir.mkdir(parents=True, exist_ok=True)
        self.data_dir = workdir / "data"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            **env,
            "SENSORFLEET_DATA_DIR": str(self.data_dir),
            "SENSORFLEET_HTTP_PORT": str(self.port),
        }
        self.tokens = TokenStore(open_state(self.data_dir, env.get("SENSORFLEET_DATABASE_URL")))
        self.token, _ = self.tokens.create(Scope.ADMIN, "test harness")
        self.http = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=10
        )
        self.process = Process([SENSORFLEET, "serve", *args], workdir / "serve.log", env=self.env)

    def start(self, ready_timeout: float = 60) -> None:
        self.process.start()
        wait_until(self.ready, ready_timeout, "sensorfleet serve /readyz")

    def ready(self) -> bool:
        self.process.check_alive("sensorfleet serve")
        try:
            return self.http.get("/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def metrics(self) -> dict[str, float]:
        text = self.http.get("/metrics").text
        return {
            name: float(value)
            for name, _, value in (line.partition(" ") for line in text.splitlines())
            if name and not name.startswith("#")
        }

    def kill(self) -> None:
        self.process.kill()

    def stop(self) -> None:
        self.process.stop()

    def close(self) -> None:
        self.process.stop()
        self.http.close()
