"""`/api/v1/alert-rules` and `/api/v1/alerts`: admin tokens change rules, read tokens see them with
webhooks cut to scheme and host; bad rules answer 422 (409 for a name in use), never 500, whatever
JSON is sent."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from api.helpers import bearer
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.alerts.store import AlertStore
from ingest.api.tokens import Scope
from ingest.codec.payload import Telemetry
from ingest.points import Point
from ingest.registry import Registry
from ingest.state.migrate import open_state
from ingest.storage.sqlite import SqliteStore
from support.webhook import WebhookReceiver

SECRET_HOOK = "https://hooks.example.com/services/T000/B000/very-secret"
HOT = {
    "name": "hot",
    "selector": {"devices": ["dev-1"]},
    "condition": {"kind": "threshold", "metric": "temperature", "above": 30, "hysteresis": 1},
    "for_s": "3s",
    "severity": "critical",
    "webhooks": [SECRET_HOOK],
}


@pytest.fixture
def api(make_api: Callable[..., TestClient], sqlite_store: SqliteStore, registry: Registry) -> TestClient:
    # A device that has sent `temperature`: rules on it are on a metric in use.
    registry.record([(Telemetry("dev-1", (Point("dev-1", 1, {"temperature": 20.0}),), 1, 0), 1)])
    return make_api(sqlite_store)


def test_rules_are_added_listed_and_removed_by_admins(api: TestClient) -> None:
    added = api.post("/api/v1/alert-rules", json=HOT)
    assert added.status_code == 201, added.text
    assert added.json()["for_s"] == 3.0
    [rule] = api.get("/api/v1/alert-rules").json()["rules"]
    assert rule["webhooks"] == [SECRET_HOOK] and rule["condition"]["above"] == 30
    again = api.post("/api/v1/alert-rules", json=HOT)
    assert again.status_code == 409 and "exists" in again.json()["detail"]
    assert api.delete("/api/v1/alert-rules/hot").status_code == 204
    assert api.delete("/api/v1/alert-rules/hot").status_code == 404
    assert api.get("/api/v1/alert-rules").json()["rules"] == []


def test_read_tokens_see_rules_without_webhook_secrets_and_change_nothing(
    api: TestClient, secrets: dict[Scope, str]
) -> None:
    assert api.post("/api/v1/alert-rules", json=HOT).status_code == 201
    reader = bearer(secrets[Scope.READ])
    [rule] = api.get("/api/v1/alert-rules", headers=reader).json()["rules"]
    assert rule["webhooks"] == ["https://hooks.example.com/…"]
    assert "secret" not in api.get("/api/v1/alert-rules", headers=reader).text
    for call in (
        lambda: api.post("/api/v1/alert-rules", json={**HOT, "name": "other"}, headers=reader),
        lambda: api.delete("/api/v1/alert-rules/hot", headers=reader),
        lambda: api.post("/api/v1/alert-rules/hot/test", headers=reader),
    ):
        assert call().status_code == 403
    command = bearer(secrets[Scope.COMMAND])
    assert api.delete("/api/v1/alert-rules/hot", headers=command).status_code == 403
    assert api.get("/api/v1/alert-rules", headers={}).status_code == 200  # the client's own admin token
    assert api.get("/api/v1/alert-rules", headers={"Authorization": "Bearer nope"}).status_code == 401


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"condition": {"kind": "threshold", "metric": "humidity", "above": 1}}, "no device has sent"),
        ({"condition": {"kind": "threshold", "metric": "<script>", "above": 1}}, "not a metric name"),
        ({"for_s": "3 fortnights"}, "not a duration"),
        ({"for_s": -1}, "between 0 and 30 days"),
        ({"selector": {"devices": ["dev-1"], "all": True}}, "one of them"),
        ({"selector": {"devices": ["Dev 1"]}}, "not a device id"),
        ({"selector": {"tag": ["site"]}}, "tag"),
        ({"selector": {}}, "select devices"),
        ({"webhooks": ["ftp://example.com/hook"]}, "URL scheme"),
        ({"webhooks": ["javascript:alert(1)"]}, "URL"),
        ({"name": "../../etc"}, "rule name"),
        ({"condition": {"kind": "threshold", "metric": "temperature"}}, "one of them"),
        ({"condition": {"kind": "nonsense"}}, "kind"),
        ({"severity": "apocalyptic"}, "severity"),
        ({"extra": 1}, "extra"),
    ],
)
def test_bad_rules_answer_422_with_a_reason(api: TestClient, change: dict[str, Any], says: str) -> None:
    answer = api.post("/api/v1/alert-rules", json={**HOT, **change})
    assert answer.status_code == 422, answer.text
    assert says.lower() in answer.text.lower()
    assert api.get("/api/v1/alert-rules").json()["rules"] == []


def test_a_test_notification_reaches_the_rule_s_webhook(api: TestClient) -> None:
    receiver = WebhookReceiver()
    try:
        rule = {**HOT, "webhooks": [receiver.url, "http://127.0.0.1:9/closed"]}
        assert api.post("/api/v1/alert-rules", json=rule).status_code == 201
        results = api.post("/api/v1/alert-rules/hot/test").json()["results"]
        assert results[receiver.url] is None and "ConnectError" in results["http://127.0.0.1:9/closed"]
        assert receiver.statuses() == [("firing", "hot", "test")]
        [sent] = receiver.received
        assert sent["version"] == "4" and sent["alerts"][0]["labels"]["severity"] == "critical"
    finally:
        receiver.close()
    assert api.post("/api/v1/alert-rules/nope/test").status_code == 404


def test_alerts_are_listed_with_their_notifications(
    api: TestClient, data_dir: Path, secrets: dict[Scope, str]
) -> None:
    assert api.post("/api/v1/alert-rules", json=HOT).status_code == 201
    store = AlertStore(open_state(data_dir))
    first = store.start("hot", "dev-1", 1000, {"value": 31})
    assert first is not None and store.fire(first, 4000, [(SECRET_HOOK, b"{}"), ("mqtt", b"{}")])
    assert store.resolve(first, 9000, {"value": 20}, [(SECRET_HOOK, b"{}")])
    second = store.start("hot", "dev-1", 10_000, {"value": 35})
    active = api.get("/api/v1/alerts", params={"state": "active"}).json()["alerts"]
    assert [(a["id"], a["state"]) for a in active] == [(second, "pending")]
    listed = api.get("/api/v1/alerts", params={"device": "dev-1", "limit": 1}).json()
    assert [a["id"] for a in listed["alerts"]] == [second] and listed["next"] == second
    older = api.get("/api/v1/alerts", params={"before": listed["next"]}).json()["alerts"]
    [resolved] = older
    assert (resolved["state"], resolved["fired"], resolved["resolved"], resolved["value"]) == (
        "resolved", 4000, 9000, {"value": 20},
    )  # fmt: skip
    assert sorted((n["transition"], n["target"], n["state"]) for n in resolved["notifications"]) == [
        ("firing", SECRET_HOOK, "waiting"),
        ("firing", "mqtt", "waiting"),
        ("resolved", SECRET_HOOK, "waiting"),
    ]
    [note] = [n for n in store.notifications([first]) if n.status == "firing" and n.target == SECRET_HOOK]
    store.retry(note.id, 1, 99_000, f"InvalidURL: cannot reach {SECRET_HOOK}", 5000)
    admin = api.get("/api/v1/alerts", params={"before": second}).json()["alerts"][0]["notifications"]
    assert f"InvalidURL: cannot reach {SECRET_HOOK}" in [n["last_error"] for n in admin]
    reader = api.get("/api/v1/alerts", params={"before": second}, headers=bearer(secrets[Scope.READ]))
    assert "very-secret" not in reader.text and reader.json()["alerts"][0]["id"] == first
    assert "cannot reach https://hooks.example.com/…" in reader.text
    for bad in ({"state": "burning"}, {"before": 0}, {"limit": 100_000}):
        assert api.get("/api/v1/alerts", params=bad).status_code == 422


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "name": st.text(max_size=70) | JSON,
        "selector": JSON | st.fixed_dictionaries({}, optional={"devices": JSON, "tag": JSON, "all": JSON}),
        "condition": JSON
        | st.fixed_dictionaries(
            {
                "kind": st.sampled_from(
                    ["threshold", "rate", "no_readings", "missing", "board_loss", "offline", "ingest"]
                )
            },
            optional={
                k: JSON for k in ("metric", "above", "below", "hysteresis", "per_s", "after_s", "over")
            },
        ),
        "for_s": JSON,
        "severity": JSON,
        "webhooks": JSON,
    },
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=FIELDS | JSON)
def test_any_json_as_a_rule_is_stored_or_refused_never_a_500(api: TestClient, body: Any) -> None:
    # The standard encoder: big integers and NaN/Infinity tokens as a careless client sends them.
    answer = api.post(
        "/api/v1/alert-rules", content=json.dumps(body), headers={"Content-Type": "application/json"}
    )
    assert answer.status_code in (201, 409, 422), (answer.text, body)
    if answer.status_code == 201:
        # What was stored reads back as valid rules, and is removed for the next example.
        names = [r["name"] for r in api.get("/api/v1/alert-rules").json()["rules"]]
        assert body["name"] in names
        assert api.delete(f"/api/v1/alert-rules/{body['name']}").status_code == 204
