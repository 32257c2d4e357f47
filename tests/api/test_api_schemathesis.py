"""Property tests generated from the app's own OpenAPI schema: no request, valid or not, makes a 500, and
every answer matches the schema. Commands go to a real Mosquitto, where no board answers (202 or 504)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from api.helpers import NOW_MS, bearer
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error, positive_data_acceptance

from ingest.api.config import ApiSettings
from ingest.api.tokens import Scope, TokenStore
from ingest.app import build_app
from ingest.points import Point
from ingest.service import IngestService
from ingest.settings import load_settings
from ingest.storage.sqlite import SqliteStore
from support.mosquitto import Mosquitto
from support.procs import wait_until

SECRET: dict[str, str] = {}


@pytest.fixture
def api_schema(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[schemathesis.schemas.BaseSchema]:
    store = SqliteStore(tmp_path / "telemetry.sqlite")
    store.write(
        [Point("dev-1", NOW_MS - i * 1000, {"temperature": 20.0 + i, "ok": True}) for i in range(100)]
    )
    service = IngestService(
        load_settings(data_dir=tmp_path / "data", mqtt_url=mosquitto.url, client_id="schema-test"),
        store=store,
    )
    SECRET["admin"] = TokenStore(service.state).create(Scope.ADMIN)[0]
    app = build_app(
        service,
        # Schemathesis tries wrong tokens on every route: the failed-authentication limit would answer them
        # 429 before long, and it has its own test.
        ApiSettings(
            rate_per_s=10_000, rate_burst=10_000, max_wait_s=0.2, docs="public", auth_failures=1_000_000
        ),
        clock=lambda: NOW_MS / 1000,
    )
    service.start()
    wait_until(service.broker_connected, 20, "the service's broker connection")
    yield schemathesis.openapi.from_asgi("/openapi.json", app).exclude(path="/api/v1/stream")
    service.stop()


def test_no_request_makes_a_server_error_and_answers_match_the_schema(
    api_schema: schemathesis.schemas.BaseSchema,
) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 7
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=30, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def check(case: schemathesis.Case) -> None:
            waiting_command = case.method == "POST" and (case.query or {}).get("wait") not in (0, None)
            excluded = [positive_data_acceptance]  # a well-typed range can still be empty (start after end)
            if waiting_command:
                excluded.append(not_a_server_error)  # 504: the documented answer when the board is silent
            response = case.call_and_validate(headers=bearer(SECRET["admin"]), excluded_checks=excluded)
            assert response.status_code != 500

        check()
