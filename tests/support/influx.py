"""A real InfluxDB 1.x `influxd` on free loopback ports with its own meta/data/wal dirs."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from .procs import Process, find_binary, free_port, wait_until

HINT = "install InfluxDB 1.x (Debian: apt-get install influxdb, or run `make test` as root)"


class InfluxDB:
    def __init__(self, workdir: Path, data_options: Mapping[str, str] | None = None):
        """`data_options`: extra `[data]` settings as TOML values, e.g. {"cache-max-memory-size": '"1g"'}."""
        self.data_options = dict(data_options or {})
        self.binary = find_binary("influxd", "/usr/bin", hint=HINT)
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.rpc_port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.conf = self.dir / "influxdb.conf"
        self.conf.write_text(self._config())
        self.process = Process([self.binary, "-config", str(self.conf)], self.dir / "influxd.log")
        self.http = httpx.Client(base_url=self.url, timeout=30)

    def _config(self) -> str:
        d = self.dir
        extra = "\n".join(f"  {key} = {value}" for key, value in self.data_options.items())
        return f"""
reporting-disabled = true
bind-address = "127.0.0.1:{self.rpc_port}"
[meta]
  dir = "{d}/meta"
  logging-enabled = false
[data]
  dir = "{d}/data"
  wal-dir = "{d}/wal"
  query-log-enabled = false
{extra}
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:{self.port}"
  log-enabled = false
  pprof-enabled = false
[logging]
  level = "warn"
  suppress-logo = true
"""

    def start(self) -> None:
        self.process.start()
        wait_until(self._ready, 30, f"influxd on port {self.port}")

    def _ready(self) -> bool:
        self.process.check_alive("influxd")
        try:
            return self.http.get("/ping").status_code == 204
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        self.process.stop()

    def close(self) -> None:
        self.stop()
        self.http.close()

    def query(self, q: str, db: str | None = None, method: str = "GET") -> list[dict[str, Any]]:
        """Runs InfluxQL; returns the `series` of the first statement (empty list when none)."""
        params = {"q": q, "epoch": "ms"}
        if db:
            params["db"] = db
        r = self.http.request(method, "/query", params=params)
        r.raise_for_status()
        result = r.json()["results"][0]
        if "error" in result:
            raise RuntimeError(f"InfluxQL error for {q!r}: {result['error']}")
        series: list[dict[str, Any]] = result.get("series", [])
        return series

    def create_database(self, name: str) -> None:
        self.query(f'CREATE DATABASE "{name}"', method="POST")

    def write(self, db: str, lines: str, precision: str = "ms") -> None:
        r = self.http.post("/write", params={"db": db, "precision": precision}, content=lines.encode())
        if r.status_code != 204:
            raise RuntimeError(f"write failed {r.status_code}: {r.text}")

    def cache_bytes(self, db: str) -> int:
        """Bytes of `db` still in the in-memory write cache, not yet snapshotted to TSM files."""
        stats = self.query("SHOW STATS")
        return sum(
            int(dict(zip(s["columns"], s["values"][0], strict=True)).get("memBytes") or 0)
            for s in stats
            if s["name"] == "tsm1_cache" and s.get("tags", {}).get("database") == db
        )

    def count(self, db: str, measurement: str, field: str, where: str = "") -> int:
        series = self.query(f'SELECT count("{field}") FROM "{measurement}" {where}', db=db)
        return int(series[0]["values"][0][1]) if series else 0
