"""A query the store refuses answers 422 in the API's words; the store's own text goes to the log only."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ingest.errors import PermanentStoreError
from ingest.storage.base import Agg, SeriesPoint
from ingest.storage.sqlite import SqliteStore

INTERNALS = "InfluxQL error: shard 7 of /var/lib/influxdb/data/sensorfleet is corrupt"


class RefusingStore(SqliteStore):
    def series(
        self,
        device: str,
        metric: str,
        start_ms: int,
        end_ms: int,
        agg: Agg | None = None,
        every_ms: int | None = None,
    ) -> list[SeriesPoint]:
        raise PermanentStoreError(INTERNALS)


def test_a_refused_query_does_not_carry_the_stores_text(
    tmp_path: Path, make_api: Callable[..., TestClient], caplog: pytest.LogCaptureFixture
) -> None:
    store = RefusingStore(tmp_path / "telemetry.sqlite")
    try:
        r = make_api(store).get("/api/v1/devices/dev-1/series", params={"metric": "t", "agg": "max"})
    finally:
        store.close()
    assert r.status_code == 422
    assert r.json()["detail"][0]["msg"] == "the store could not answer this query"
    assert INTERNALS in caplog.text
