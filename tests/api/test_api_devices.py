"""Devices, latest values and the CSV export, from a real registry and both stores."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable

from api.helpers import NOW_MS, iso
from fastapi.testclient import TestClient

from ingest.codec.payload import Limits, Telemetry, decode_status, decode_telemetry
from ingest.points import Point
from ingest.registry import Registry
from ingest.storage.base import Store


def receive(store: Store, registry: Registry, device: str, payload: bytes) -> None:
    """What the pipeline does with a telemetry message: decode, store, count."""
    telemetry = decode_telemetry(device, payload, NOW_MS, Limits())
    store.write(telemetry.points)
    registry.record([(telemetry, NOW_MS)])


def test_devices_show_status_latest_values_and_completeness(
    store: Store, registry: Registry, make_api: Callable[..., TestClient]
) -> None:
    birth = b'{"online":true,"fw":"0.3.1","boot":4,"rssi":-61,"heap_free":61234,"outbox":0,"dropped":0}'
    registry.set_status("dev-1", decode_status(birth, Limits()), NOW_MS - 5000)
    receive(
        store,
        registry,
        "dev-1",
        b'{"boot":4,"seq":0,"readings":[{"ts":%d,"t":1.5,"battery":3.9},{"ts":%d,"t":2.5}]}'
        % (NOW_MS - 3000, NOW_MS - 2000),
    )
    # seq 2..4 never arrive.
    receive(
        store,
        registry,
        "dev-1",
        b'{"boot":4,"seq":5,"readings":[{"ts":%d,"t":3.5,"door":true}]}' % (NOW_MS - 1000),
    )
    receive(store, registry, "dev-2", b'{"ts":%d,"humidity":40}' % (NOW_MS - 500))
    registry.update_tags("dev-1", {"site": "greenhouse-2", "zone": "north"})
    api = make_api(store)

    devices = api.get("/api/v1/devices").json()["devices"]
    assert [d["id"] for d in devices] == ["dev-1", "dev-2"]
    one = api.get("/api/v1/devices/dev-1").json()
    assert one == devices[0]
    assert one["online"] is True and one["fw"] == "0.3.1" and one["rssi"] == -61
    assert one["status"]["heap_free"] == 61234
    assert one["tags"] == {"site": "greenhouse-2", "zone": "north"} and devices[1]["tags"] == {}
    # The newest value of each metric, also of one the newest reading does not carry.
    assert one["latest"] == {
        "device": "dev-1",
        "ts": NOW_MS - 1000,
        "values": {"battery": 3.9, "door": True, "t": 3.5},
        "at": {"battery": NOW_MS - 3000, "door": NOW_MS - 1000, "t": NOW_MS - 1000},
    }
    completeness = one["completeness"]
    assert (completeness["received"], completeness["missing"], completeness["duplicates"]) == (3, 3, 0)
    assert completeness["boots"] == [{"boot": 4, "received": 3, "missing": [[2, 4]]}]
    assert devices[1]["latest"]["values"] == {"humidity": 40.0} and devices[1]["online"] is None

    assert api.get("/api/v1/devices/dev-2/latest").json()["values"] == {"humidity": 40.0}
    assert api.get("/api/v1/devices/nobody").status_code == 404
    assert api.get("/api/v1/devices/nobody/latest").json() == {
        "device": "nobody",
        "ts": None,
        "values": {},
        "at": {},
    }


def test_csv_export_streams_every_value_in_order(store: Store, make_api: Callable[..., TestClient]) -> None:
    points = [
        Point("dev-1", NOW_MS - 10_000_000 + i * 1000, {"a": i * 0.5, "b": i % 2 == 0}) for i in range(7000)
    ]
    store.write(points)
    store.write([Point("dev-2", NOW_MS - 1000, {"a": 99.0})])
    api = make_api(store)
    with api.stream(
        "GET", "/api/v1/devices/dev-1/export.csv", params={"start": iso(NOW_MS - 10_000_000), "end": "now"}
    ) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        chunks = list(r.iter_text())
    assert len(chunks) > 3  # sent page by page, never as one body
    rows = list(csv.reader(io.StringIO("".join(chunks))))
    assert rows[0] == ["time", "ts_ms", "metric", "value"]
    expected = [
        [str(p.ts_ms), name, str(v).lower() if isinstance(v, bool) else str(v)]
        for p in points
        for name, v in sorted(p.fields.items())
    ]
    assert sorted((r[1:] for r in rows[1:]), key=lambda r: (int(r[0]), r[1])) == expected
    assert rows[1][0] == iso(points[0].ts_ms).replace("Z", "+00:00")
    only_a = api.get(
        "/api/v1/devices/dev-1/export.csv", params={"start": "-1h", "end": "now", "metric": "a"}
    ).text.splitlines()
    assert {line.split(",")[2] for line in only_a[1:]} == {"a"} and len(
        only_a
    ) == 1 + 600  # the last 600 s of readings


def test_the_device_list_comes_in_pages_each_read_in_one_store_request(
    store: Store, registry: Registry, make_api: Callable[..., TestClient]
) -> None:
    for i in range(7):
        receive(store, registry, f"dev-{i}", b'{"ts":%d,"t":%d,"h%d":1}' % (NOW_MS - 100, i, i))
    calls: list[dict[str, list[str]]] = []
    real = store.latest_values

    def counted(wanted):  # type: ignore[no-untyped-def]
        calls.append({d: sorted(m) for d, m in wanted.items()})
        return real(wanted)

    store.latest_values = counted  # type: ignore[method-assign]
    api = make_api(store)
    pages, after = [], ""
    while True:
        body = api.get("/api/v1/devices", params={"limit": 3, "after": after}).json()
        pages.append([d["id"] for d in body["devices"]])
        assert all(d["latest"]["values"]["t"] == int(d["id"][-1]) for d in body["devices"])
        if body["next"] is None:
            break
        after = body["next"]
    assert pages == [["dev-0", "dev-1", "dev-2"], ["dev-3", "dev-4", "dev-5"], ["dev-6"]]
    assert len(calls) == 3  # one store request per page, for the page's devices and their own metrics
    assert calls[0] == {f"dev-{i}": sorted(["t", f"h{i}"]) for i in range(3)}
    assert api.get("/api/v1/devices", params={"limit": 0}).status_code == 422
    assert api.get("/api/v1/devices", params={"limit": 501}).status_code == 422


def test_walking_the_pages_of_a_large_fleet_gives_every_device_once_with_its_newest_values(
    store: Store, registry: Registry, make_api: Callable[..., TestClient]
) -> None:
    """More devices than the largest page holds, ids with `-` and `_`: each device once, in id order, with
    the newest value of each metric (one of them older than the device's newest reading) and its own
    completeness, whichever page it falls on; every page counts the whole fleet."""
    ids = [f"d{'-' if n % 3 else '_'}{n:04d}" for n in range(1_100)]
    first, second = [], []
    points = []
    for n, device in enumerate(ids):
        old = Point(device, NOW_MS - 2000, {"a": n + 0.25, "b": float(n)})
        new = Point(device, NOW_MS - 1000 + n % 7, {"a": n + 0.5})
        points += [old, new]
        first.append((Telemetry(device, (old,), boot=1, seq=0), NOW_MS))
        second.append((Telemetry(device, (new,), boot=1, seq=2), NOW_MS))  # seq 1 never arrives
    store.write(points)
    registry.record(first)
    registry.record(second)
    api = make_api(store)

    seen, after, pages = [], "", 0
    while True:
        body = api.get("/api/v1/devices", params={"limit": 500, "after": after}).json()
        pages += 1
        assert body["total"] == len(ids)
        for d in body["devices"]:
            n = int(d["id"][2:])
            assert d["latest"]["values"] == {"a": n + 0.5, "b": float(n)}, d["id"]
            assert d["latest"]["at"] == {"a": NOW_MS - 1000 + n % 7, "b": NOW_MS - 2000}, d["id"]
            assert d["completeness"]["boots"] == [{"boot": 1, "received": 2, "missing": [[1, 1]]}], d["id"]
        seen += [d["id"] for d in body["devices"]]
        if body["next"] is None:
            break
        after = body["next"]
    assert pages == 3 and seen == sorted(ids)
    default = api.get("/api/v1/devices").json()
    assert [d["id"] for d in default["devices"]] == sorted(ids)[:100] and default["total"] == len(ids)
