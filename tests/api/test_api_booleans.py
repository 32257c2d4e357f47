"""Boolean metrics: count, last, min and max answer alike on both stores; mean and sum are refused (422)."""

from __future__ import annotations

from collections.abc import Callable

from api.helpers import NOW_MS
from fastapi.testclient import TestClient

from ingest.points import Point
from ingest.storage.base import Store


def test_boolean_metrics_answer_the_same_on_both_stores(
    store: Store, make_api: Callable[..., TestClient]
) -> None:
    store.write(
        [Point("dev-1", NOW_MS - 3000 + i * 1000, {"door": i % 2 == 0, "t": float(i)}) for i in range(3)]
    )
    api = make_api(store)
    base = {"metric": "door", "start": "-1h", "every": "1h"}
    count = api.get("/api/v1/devices/dev-1/series", params={**base, "agg": "count"}).json()
    assert [v for _, v in count["points"]] == [3]
    last = api.get("/api/v1/devices/dev-1/series", params={**base, "agg": "last"}).json()
    assert [v for _, v in last["points"]] == [True]
    for agg, expected in (("min", False), ("max", True)):
        r = api.get("/api/v1/devices/dev-1/series", params={**base, "agg": agg})
        assert [v for _, v in r.json()["points"]] == [expected]
    for agg in ("mean", "sum"):
        r = api.get("/api/v1/devices/dev-1/series", params={**base, "agg": agg})
        assert r.status_code == 422, (agg, r.text)


def test_mean_of_a_boolean_says_so_in_our_words_on_both_stores(
    store: Store, make_api: Callable[..., TestClient]
) -> None:
    store.write([Point("dev-1", NOW_MS - 2000 + i * 1000, {"door": i % 2 == 0}) for i in range(2)])
    api = make_api(store)
    for agg in ("mean", "sum"):
        for window in ({"every": "1h"}, {"max_points": "100"}):
            r = api.get("/api/v1/devices/dev-1/series", params={"metric": "door", "agg": agg, **window})
            assert r.status_code == 422, (agg, r.text)
            message = r.json()["detail"][0]["msg"]
            assert message == f"'door' is a boolean metric: use count, last, min or max, not {agg}", message
