"""`GET /api/v1/devices/{id}/status-history`: a device's recorded status changes from a real registry."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from api.helpers import NOW_MS
from fastapi.testclient import TestClient

from ingest.api.tokens import Scope
from ingest.codec.payload import Status, Telemetry
from ingest.points import Point
from ingest.registry import Registry
from ingest.storage.sqlite import SqliteStore

URL = "/api/v1/devices/dev-1/status-history"


@pytest.fixture
def api(sqlite_store: SqliteStore, make_api: Callable[..., TestClient]) -> TestClient:
    return make_api(sqlite_store, Scope.READ)


def test_newest_first_with_what_changed(api: TestClient, registry: Registry) -> None:
    registry.set_status("dev-1", Status(True, "0.3.1", 4, -61.0), NOW_MS - 3000)
    registry.set_status("dev-1", Status(True, "0.3.1", 4, -65.0), NOW_MS - 2500)  # a repeat
    registry.set_status("dev-1", Status(False), NOW_MS - 2000)
    registry.set_status("dev-1", Status(True, "0.4.0", 5, -60.0), NOW_MS - 1000, retained=True)

    response = api.get(URL)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "device": "dev-1",
        "changes": [
            {
                "at": NOW_MS - 1000,
                "online": True,
                "fw": "0.4.0",
                "boot": 5,
                "changed": ["online", "boot", "fw"],
                "retained": True,
            },
            {
                "at": NOW_MS - 2000,
                "online": False,
                "fw": "0.3.1",
                "boot": 4,
                "changed": ["online"],
                "retained": False,
            },
            {
                "at": NOW_MS - 3000,
                "online": True,
                "fw": "0.3.1",
                "boot": 4,
                "changed": ["online", "boot", "fw"],
                "retained": False,
            },
        ],
    }
    assert [c["at"] for c in api.get(URL, params={"limit": 2}).json()["changes"]] == [
        NOW_MS - 1000,
        NOW_MS - 2000,
    ]


def test_a_device_seen_only_by_its_readings_has_an_empty_history(api: TestClient, registry: Registry) -> None:
    registry.record([(Telemetry("dev-1", (Point("dev-1", NOW_MS, {"t": 1.0}),)), NOW_MS)])
    assert api.get(URL).json() == {"device": "dev-1", "changes": []}


def test_limit_out_of_bounds_is_422(api: TestClient, registry: Registry) -> None:
    registry.set_status("dev-1", Status(True), NOW_MS)
    for limit in ("0", "1001", "-1", "many"):
        response = api.get(URL, params={"limit": limit})
        assert response.status_code == 422, (limit, response.text)
    assert api.get(URL, params={"limit": 1000}).status_code == 200


def test_unknown_device_is_404(api: TestClient) -> None:
    response = api.get("/api/v1/devices/nobody/status-history")
    assert response.status_code == 404
    assert "nobody" in response.json()["detail"]


def test_a_token_is_required(
    sqlite_store: SqliteStore, registry: Registry, make_api: Callable[..., TestClient]
) -> None:
    registry.set_status("dev-1", Status(True), NOW_MS)
    assert make_api(sqlite_store, scope=None).get(URL).status_code == 401
    assert (
        make_api(sqlite_store, scope=None).get(URL, headers={"Authorization": "Bearer nope"}).status_code
        == 401
    )
