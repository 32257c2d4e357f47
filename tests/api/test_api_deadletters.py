"""`/api/v1/dead-letters`: list, show, purge and replay for admin tokens only, the summary for read
tokens, payloads as base64 with a text preview only when valid UTF-8, and bad input answered 4xx."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from api.helpers import NOW_MS
from fastapi.testclient import TestClient

from ingest.api.tokens import Scope
from ingest.deadletters import DeadLetter, DeadLetters, Selection
from ingest.registry import Registry
from ingest.state.migrate import open_state
from ingest.storage.sqlite import SqliteStore

DAY_MS = 86_400_000
HOSTILE = "<img src=x onerror=alert(1)>"
LETTERS = [
    DeadLetter(NOW_MS - 3000, "sf/dev-1/telemetry", "invalid JSON", b"\xff\xfe not utf-8"),
    DeadLetter(NOW_MS - 2000, f"sf/{HOSTILE}/telemetry", f"device id {HOSTILE!r} in topic is invalid", b"{}"),
    DeadLetter(
        NOW_MS - 1000,
        "sf/dev-2/telemetry",
        "device 'dev-2' is not registered (strict mode)",
        orjson.dumps({"boot": 1, "seq": 0, "readings": [{"ts": NOW_MS - 1000, "v": 2.5}]}),
    ),
    DeadLetter(
        NOW_MS,
        "sf/dev-1/telemetry",
        "timestamp is older than the accepted window",
        orjson.dumps({"ts": NOW_MS - 90 * DAY_MS, "v": 1.0}),
    ),
]


@pytest.fixture
def letters(data_dir: Path) -> list[int]:
    """The ids of LETTERS, in order."""
    store = DeadLetters(open_state(data_dir))
    store.add(LETTERS)
    return sorted(x.id for x in store.page(Selection()))


@pytest.fixture
def api(make_api: Callable[..., TestClient], sqlite_store: SqliteStore) -> TestClient:
    return make_api(sqlite_store)


def test_list_gives_each_letter_newest_first_with_its_payload_safely(
    api: TestClient, letters: list[int]
) -> None:
    body = api.get("/api/v1/dead-letters").json()
    assert [x["id"] for x in body["letters"]] == letters[::-1] and body["next"] is None
    by_id = {x["id"]: x for x in body["letters"]}
    binary = by_id[letters[0]]
    assert (binary["device"], binary["topic"], binary["size"], binary["received"]) == (
        "dev-1",
        "sf/dev-1/telemetry",
        len(LETTERS[0].payload),
        NOW_MS - 3000,
    )
    assert base64.b64decode(binary["payload"]) == LETTERS[0].payload and binary["preview"] is None
    hostile = by_id[letters[1]]
    assert hostile["device"] is None and hostile["topic"] == LETTERS[1].topic
    assert hostile["preview"] == "{}" and hostile["truncated"] is False


def test_list_pages_and_filters_by_device_and_reason(api: TestClient, letters: list[int]) -> None:
    first = api.get("/api/v1/dead-letters", params={"limit": 3}).json()
    assert [x["id"] for x in first["letters"]] == letters[:0:-1] and first["next"] == letters[1]
    rest = api.get("/api/v1/dead-letters", params={"limit": 3, "before": first["next"]}).json()
    assert [x["id"] for x in rest["letters"]] == [letters[0]] and rest["next"] is None
    dev1 = api.get("/api/v1/dead-letters", params={"device": "dev-1"}).json()["letters"]
    assert [x["id"] for x in dev1] == [letters[3], letters[0]]
    strict = api.get("/api/v1/dead-letters", params={"reason": "STRICT MODE"}).json()["letters"]
    assert [x["id"] for x in strict] == [letters[2]]


def test_show_gives_one_letter_and_404_for_an_unknown_id(api: TestClient, letters: list[int]) -> None:
    one = api.get(f"/api/v1/dead-letters/{letters[2]}").json()
    assert one["reason"] == LETTERS[2].reason and base64.b64decode(one["payload"]) == LETTERS[2].payload
    assert one["preview"] == LETTERS[2].payload.decode()
    assert api.get(f"/api/v1/dead-letters/{letters[-1] + 1}").status_code == 404


@pytest.mark.parametrize(
    "path, params",
    [
        ("/api/v1/dead-letters", {"device": "Not A Device"}),
        ("/api/v1/dead-letters", {"device": "dev-1\n"}),
        ("/api/v1/dead-letters", {"reason": "x" * 201}),
        ("/api/v1/dead-letters", {"reason": ""}),
        ("/api/v1/dead-letters", {"limit": 0}),
        ("/api/v1/dead-letters", {"limit": 501}),
        ("/api/v1/dead-letters", {"before": "yesterday"}),
        ("/api/v1/dead-letters", {"before": 2**63}),
        ("/api/v1/dead-letters/0", {}),
        ("/api/v1/dead-letters/abc", {}),
        ("/api/v1/dead-letters/99999999999999999999", {}),
        ("/api/v1/dead-letters/summary", {"device": "<b>"}),
        ("/api/v1/dead-letters/summary", {"newest": 101}),
    ],
)
def test_bad_filters_are_422(
    api: TestClient, letters: list[int], path: str, params: dict[str, object]
) -> None:
    assert api.get(path, params=params).status_code == 422


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"all": False},
        {"all": True, "ids": [1]},
        {"ids": []},
        {"ids": ["one"]},
        {"ids": list(range(1, 1002))},
        {"device": "Not A Device"},
        {"before": -1},
        {"reason": ""},
        {"ids": [1], "extra": 1},
    ],
)
def test_purge_and_replay_refuse_a_vague_or_bad_selection(api: TestClient, body: dict[str, object]) -> None:
    for action in ("purge", "replay"):
        assert api.post(f"/api/v1/dead-letters/{action}", json=body).status_code == 422, (action, body)


def test_purge_deletes_chosen_ids_older_ones_and_then_all(api: TestClient, letters: list[int]) -> None:
    assert api.post("/api/v1/dead-letters/purge", json={"ids": [letters[1]]}).json() == {"deleted": 1}
    assert api.post("/api/v1/dead-letters/purge", json={"before": NOW_MS - 2500}).json() == {"deleted": 1}
    left = [x["id"] for x in api.get("/api/v1/dead-letters").json()["letters"]]
    assert left == [letters[3], letters[2]]
    assert api.post("/api/v1/dead-letters/purge", json={"all": True}).json() == {"deleted": 2}
    assert api.get("/api/v1/dead-letters").json()["letters"] == []


def test_replay_stores_what_passes_today_and_keeps_the_rest_with_today_s_reason(
    api: TestClient, letters: list[int], sqlite_store: SqliteStore, registry: Registry
) -> None:
    answer = api.post("/api/v1/dead-letters/replay", json={"ids": letters[2:]})
    assert answer.status_code == 200
    body = answer.json()
    # dev-2 was refused in strict mode, which this service does not run in: it passes now.
    assert body["stored"] == [letters[2]] and body["skipped"] == []
    [failed] = body["failed"]
    assert failed["id"] == letters[3] and "older than the accepted window" in failed["reason"]
    assert [p.fields for p in sqlite_store.points("dev-2", NOW_MS - 2000, NOW_MS)] == [{"v": 2.5, "seq": 0}]
    dev2 = registry.device("dev-2")
    assert dev2 is not None and (dev2.received, dev2.duplicates) == (1, 0)
    assert api.get(f"/api/v1/dead-letters/{letters[2]}").status_code == 404
    assert api.get(f"/api/v1/dead-letters/{letters[3]}").json()["reason"] == failed["reason"]
    again = api.post("/api/v1/dead-letters/replay", json={"ids": letters[2:]}).json()
    assert again["stored"] == [] and [f["id"] for f in again["failed"]] == [letters[3]]
    assert registry.device("dev-2").received == 1  # type: ignore[union-attr]


def test_the_summary_counts_per_device_and_names_the_newest_reasons_without_payloads(
    make_api: Callable[..., TestClient], sqlite_store: SqliteStore, letters: list[int]
) -> None:
    api = make_api(sqlite_store, Scope.READ)
    body = api.get("/api/v1/dead-letters/summary", params={"newest": 2}).json()
    assert body["total"] == 4 and body["next"] is None
    assert body["devices"] == [{"device": "dev-1", "count": 2}, {"device": "dev-2", "count": 1}]
    assert [x["id"] for x in body["newest"]] == [letters[3], letters[2]]
    assert all("payload" not in x and "preview" not in x for x in body["newest"])
    paged = api.get("/api/v1/dead-letters/summary", params={"limit": 1}).json()
    assert paged["devices"] == [{"device": "dev-1", "count": 2}] and paged["next"] == "dev-1"
    one = api.get("/api/v1/dead-letters/summary", params={"device": "dev-1"}).json()
    assert one["total"] == 2 and [x["id"] for x in one["newest"]] == [letters[3], letters[0]]


@pytest.mark.parametrize("scope", [Scope.READ, Scope.COMMAND])
def test_payloads_purge_and_replay_need_an_admin_token(
    make_api: Callable[..., TestClient],
    sqlite_store: SqliteStore,
    letters: list[int],
    data_dir: Path,
    scope: Scope,
) -> None:
    api = make_api(sqlite_store, scope)
    assert api.get("/api/v1/dead-letters").status_code == 403
    assert api.get(f"/api/v1/dead-letters/{letters[0]}").status_code == 403
    assert api.post("/api/v1/dead-letters/replay", json={"all": True}).status_code == 403
    assert api.post("/api/v1/dead-letters/purge", json={"all": True}).status_code == 403
    assert api.get("/api/v1/dead-letters/summary").status_code == 200
    anonymous = make_api(sqlite_store, None)
    assert anonymous.get("/api/v1/dead-letters/summary").status_code == 401
    assert DeadLetters(open_state(data_dir)).count() == 4
