"""Bearer tokens: missing, wrong, revoked and under-scoped tokens are refused; the rate limit answers 429."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
from api.helpers import bearer
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from ingest.api.config import ApiSettings
from ingest.api.tokens import Scope, TokenStore
from ingest.cli import app as cli
from ingest.state.migrate import open_state
from ingest.storage.sqlite import SqliteStore

READ_PATHS = [
    "/api/v1/devices",
    "/api/v1/devices/dev-1",
    "/api/v1/devices/dev-1/latest",
    "/api/v1/devices/dev-1/series?metric=temperature",
    "/api/v1/devices/dev-1/export.csv",
    "/api/v1/stream",
]


@pytest.mark.parametrize("path", READ_PATHS)
def test_missing_wrong_and_malformed_tokens_are_401(
    sqlite_store: SqliteStore, make_api: Callable[..., TestClient], path: str
) -> None:
    api = make_api(sqlite_store, scope=None)
    for headers in [{}, bearer("sft_wrong"), bearer(""), {"Authorization": "Basic dXNlcjpwYXNz"}]:
        r = api.get(path, headers=headers)
        assert r.status_code == 401, (headers, r.text)
        assert r.headers["WWW-Authenticate"] == "Bearer"


def test_revoked_token_is_refused_at_once(
    sqlite_store: SqliteStore, make_api: Callable[..., TestClient], tokens: TokenStore
) -> None:
    secret, token = tokens.create(Scope.READ, "revoke me")
    api = make_api(sqlite_store, scope=None)
    assert api.get("/api/v1/devices", headers=bearer(secret)).status_code == 200
    assert tokens.revoke(token.id)
    assert api.get("/api/v1/devices", headers=bearer(secret)).status_code == 401
    assert not tokens.revoke(token.id)


def test_scopes_nest(
    sqlite_store: SqliteStore, make_api: Callable[..., TestClient], secrets: dict[Scope, str]
) -> None:
    api = make_api(sqlite_store, scope=None)
    command = {"op": "ping"}
    r = api.post("/api/v1/devices/dev-1/commands", json=command, headers=bearer(secrets[Scope.READ]))
    assert r.status_code == 403 and "command" in r.json()["detail"]
    for scope in (Scope.COMMAND, Scope.ADMIN):
        r = api.post("/api/v1/devices/dev-1/commands", json=command, headers=bearer(secrets[scope]))
        assert r.status_code == 503  # admitted; the service is not connected to a broker
    for scope in Scope:
        assert api.get("/api/v1/devices", headers=bearer(secrets[scope])).status_code == 200


def test_tokens_are_stored_hashed(tokens: TokenStore, data_dir: Path) -> None:
    secret, _ = tokens.create(Scope.ADMIN)
    stored = b"".join(p.read_bytes() for p in data_dir.iterdir() if p.is_file())  # the WAL too
    assert hashlib.sha256(secret.encode()).hexdigest().encode() in stored
    assert secret.encode() not in stored
    assert tokens.verify(secret) is not None and tokens.verify(secret + "x") is None


def test_rate_limit_per_token_answers_429_with_retry_after(
    sqlite_store: SqliteStore, make_api: Callable[..., TestClient], secrets: dict[Scope, str]
) -> None:
    api = make_api(sqlite_store, scope=None, settings=ApiSettings(rate_per_s=0.01, rate_burst=3))
    codes = [api.get("/api/v1/devices", headers=bearer(secrets[Scope.READ])).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    r = api.get("/api/v1/devices", headers=bearer(secrets[Scope.READ]))
    assert r.status_code == 429 and 90 <= int(r.headers["Retry-After"]) <= 100  # a token every 100 s
    # Another token has its own bucket.
    assert api.get("/api/v1/devices", headers=bearer(secrets[Scope.ADMIN])).status_code == 200


def test_healthz_needs_no_token(sqlite_store: SqliteStore, make_api: Callable[..., TestClient]) -> None:
    assert make_api(sqlite_store, scope=None).get("/healthz").status_code == 200


def test_cors_is_off_unless_origins_are_configured(
    sqlite_store: SqliteStore, make_api: Callable[..., TestClient]
) -> None:
    preflight = {"Origin": "http://dash.example", "Access-Control-Request-Method": "GET"}
    off = make_api(sqlite_store)
    assert "access-control-allow-origin" not in off.options("/api/v1/devices", headers=preflight).headers
    assert (
        "access-control-allow-origin"
        not in off.get("/api/v1/devices", headers={"Origin": "http://x"}).headers
    )
    on = make_api(sqlite_store, settings=ApiSettings(cors_origins=("http://dash.example",)))
    r = on.options("/api/v1/devices", headers=preflight)
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "http://dash.example"
    other = on.options("/api/v1/devices", headers={**preflight, "Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in other.headers


def test_token_cli_create_list_revoke(tmp_path: Path) -> None:
    runner = CliRunner()
    data_dir = str(tmp_path)
    created = runner.invoke(
        cli, ["token", "create", "--scope", "command", "--name", "ci", "--data-dir", data_dir]
    )
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip().splitlines()[-1]
    store = TokenStore(open_state(tmp_path))
    token = store.verify(secret)
    assert token is not None and token.scope is Scope.COMMAND and token.name == "ci"
    listed = runner.invoke(cli, ["token", "list", "--data-dir", data_dir])
    assert token.id in listed.stdout and "active" in listed.stdout and secret not in listed.stdout
    assert runner.invoke(cli, ["token", "revoke", token.id, "--data-dir", data_dir]).exit_code == 0
    assert store.verify(secret) is None
    assert "revoked" in runner.invoke(cli, ["token", "list", "--data-dir", data_dir]).stdout
    assert runner.invoke(cli, ["token", "revoke", token.id, "--data-dir", data_dir]).exit_code == 1
    bad = runner.invoke(cli, ["token", "create", "--scope", "root", "--data-dir", data_dir])
    assert bad.exit_code == 2


def test_api_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENSORFLEET_API_CORS_ORIGINS", '["https://ops.example"]')
    monkeypatch.setenv("SENSORFLEET_API_RATE_PER_S", "5")
    settings = ApiSettings()
    assert settings.cors_origins == ("https://ops.example",) and settings.rate_per_s == 5.0
