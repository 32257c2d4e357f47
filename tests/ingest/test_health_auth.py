"""Every endpoint but /healthz wants a token: /readyz and /metrics included."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from ingest.api.tokens import Scope, TokenStore
from ingest.app import build_app
from ingest.service import IngestService
from ingest.settings import load_settings
from ingest.state.migrate import open_state


def test_readyz_and_metrics_need_a_read_token_healthz_does_not(tmp_path: Path) -> None:
    # Built, not started: the routes and their guards are what is under test.
    client = TestClient(build_app(IngestService(load_settings(data_dir=tmp_path))))
    assert client.get("/healthz").status_code == 200
    for path in ("/readyz", "/metrics"):
        assert client.get(path).status_code == 401, path
        assert client.get(path, headers={"Authorization": "Bearer sft_wrong"}).status_code == 401, path
    token, _ = TokenStore(open_state(tmp_path)).create(Scope.READ, "probe")
    auth = {"Authorization": f"Bearer {token}"}
    assert "sensorfleet_messages_received_total 0" in client.get("/metrics", headers=auth).text
    # Not started, so not connected to a broker: not ready, and the 503 is the probe's answer, not auth's.
    assert client.get("/readyz", headers=auth).status_code == 503
