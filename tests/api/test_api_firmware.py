"""`/api/v1/firmware` and `/api/v1/rollouts`: admin tokens upload bundles and run rollouts; read tokens
see nothing of it; a bundle outside the contract or whose manifest lies is refused with nothing stored."""

from __future__ import annotations

import base64
from collections.abc import Callable

import orjson
import pytest
from api.helpers import bearer
from fastapi.testclient import TestClient

from ingest.api.tokens import Scope
from ingest.codec.payload import Status
from ingest.ota.bundle import MAX_FILE_BYTES, build_bundle
from ingest.registry import Registry
from ingest.storage.sqlite import SqliteStore

FILES = {"sensorfleet/app.py": b"print('0.2.0')\n", "drivers/sim.py": b"X = 2\n"}


def upload(version: str = "0.2.0", files: dict[str, bytes] = FILES, **extra: object) -> dict[str, object]:
    return {"version": version, "files": {p: base64.b64encode(d).decode() for p, d in files.items()}, **extra}


@pytest.fixture
def api(make_api: Callable[..., TestClient], sqlite_store: SqliteStore, registry: Registry) -> TestClient:
    for n in range(5):
        registry.set_status(f"dev-{n}", Status(online=True, fw="0.1.0"), 1000)
    return make_api(sqlite_store)


def test_a_bundle_is_uploaded_listed_and_removed(api: TestClient) -> None:
    manifest = orjson.loads(build_bundle("0.2.0", FILES).manifest)
    added = api.post("/api/v1/firmware", json=upload(manifest=manifest))
    assert added.status_code == 201, added.text
    assert added.json()["sha256"] == manifest["sha256"] and added.json()["files"] == 2
    listed = api.get("/api/v1/firmware").json()
    assert [b["version"] for b in listed["bundles"]] == ["0.2.0"] and listed["fleet"] == {"0.1.0": 5}
    assert api.post("/api/v1/firmware", json=upload()).status_code == 409
    assert api.delete("/api/v1/firmware/0.2.0").status_code == 204
    assert api.delete("/api/v1/firmware/0.2.0").status_code == 404


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (upload(version="0.2 beta"), 422),
        (upload(files={"../main.py": b"x"}), 422),
        (upload(files={"main.py": b"x"}), 422),
        (upload(files={"big.py": b"x" * (MAX_FILE_BYTES + 1)}), 422),
        ({"version": "0.2.0", "files": {"a.py": "not base64!"}}, 422),
        (upload(manifest={"v": "0.2.0", "files": [], "sha256": "0" * 64}), 422),
        (upload(manifest={"": -(2**63) - 1}), 422),  # more than JSON's 64-bit integers carry
        ({"version": "0.2.0", "files": {}, "extra": 1}, 422),
    ],
)
def test_bad_bundles_are_refused_and_nothing_is_stored(
    api: TestClient, body: dict[str, object], status: int
) -> None:
    answer = api.post("/api/v1/firmware", json=body)
    assert answer.status_code == status, answer.text
    assert api.get("/api/v1/firmware").json()["bundles"] == []


def test_an_upload_larger_than_any_bundle_is_refused_before_it_is_read(api: TestClient) -> None:
    huge = b'{"version":"0.2.0","files":{"a.py":"' + b"A" * 3_000_000 + b'"}}'
    answer = api.post("/api/v1/firmware", content=huge, headers={"Content-Type": "application/json"})
    assert answer.status_code == 413


def test_a_rollout_is_started_shown_halted_and_resumed(api: TestClient) -> None:
    assert api.post("/api/v1/firmware", json=upload()).status_code == 201
    started = api.post("/api/v1/rollouts", json={"version": "0.2.0", "all": True, "canary": 1, "wave": "2"})
    assert started.status_code == 201, started.text
    rollout = started.json()
    assert rollout["state"] == "running" and rollout["target"] == "all devices"
    detail = api.get(f"/api/v1/rollouts/{rollout['id']}").json()
    assert [(d["device"], d["wave"], d["state"]) for d in detail["devices"]] == [
        ("dev-0", 0, "pending"), ("dev-1", 1, "pending"), ("dev-2", 1, "pending"),
        ("dev-3", 2, "pending"), ("dev-4", 2, "pending"),
    ]  # fmt: skip
    assert detail["devices"][0]["board"]["fw"] == "0.1.0"
    again = api.post("/api/v1/rollouts", json={"version": "0.2.0", "devices": ["dev-1"]})
    assert again.status_code == 422 and "already in a rollout" in again.text
    assert api.post(f"/api/v1/rollouts/{rollout['id']}/halt").json()["state"] == "halted"
    assert api.post(f"/api/v1/rollouts/{rollout['id']}/halt").status_code == 409
    assert api.post(f"/api/v1/rollouts/{rollout['id']}/resume").json()["state"] == "running"
    assert api.delete("/api/v1/firmware/0.2.0").status_code == 409
    assert api.post("/api/v1/rollouts/999/halt").status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"version": "9.9.9", "all": True},
        {"version": "0.2.0"},
        {"version": "0.2.0", "all": True, "devices": ["dev-1"]},
        {"version": "0.2.0", "devices": ["nobody"]},
        {"version": "0.2.0", "tag": "site=nowhere"},
        {"version": "0.2.0", "all": True, "wave": "0"},
        {"version": "0.2.0", "all": True, "health_s": 0},
    ],
)
def test_rollouts_that_cannot_run_are_refused(api: TestClient, body: dict[str, object]) -> None:
    assert api.post("/api/v1/firmware", json=upload()).status_code == 201
    answer = api.post("/api/v1/rollouts", json=body)
    assert answer.status_code == 422, answer.text
    assert api.get("/api/v1/rollouts").json()["rollouts"] == []


def test_read_tokens_see_and_change_nothing(api: TestClient, secrets: dict[Scope, str]) -> None:
    assert api.post("/api/v1/firmware", json=upload()).status_code == 201
    reader = bearer(secrets[Scope.READ])
    for method, path in [
        ("GET", "/api/v1/firmware"),
        ("POST", "/api/v1/firmware"),
        ("DELETE", "/api/v1/firmware/0.2.0"),
        ("GET", "/api/v1/rollouts"),
        ("POST", "/api/v1/rollouts"),
        ("GET", "/api/v1/rollouts/1"),
        ("POST", "/api/v1/rollouts/1/halt"),
    ]:
        assert api.request(method, path, headers=reader, json={}).status_code == 403, (method, path)
    assert [b["version"] for b in api.get("/api/v1/firmware").json()["bundles"]] == ["0.2.0"]
