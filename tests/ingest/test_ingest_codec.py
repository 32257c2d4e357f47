"""Telemetry and status payloads: what is accepted, how it is typed and timed, and what is refused."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ingest.codec.payload import Limits, _common_points, _exact_points, decode_status, decode_telemetry
from ingest.contract import parse_topic
from ingest.errors import PayloadError
from ingest.points import Point

NOW = 1_764_000_000_000
LIMITS = Limits(max_payload_bytes=4096, max_past_ms=86_400_000, max_future_ms=300_000)


def decode(payload: bytes, device: str = "dev-1"):  # type: ignore[no-untyped-def]
    return decode_telemetry(device, payload, NOW, LIMITS)


def test_reading_with_device_time_numbers_as_float_and_booleans_as_bool() -> None:
    t = decode(b'{"ts":1764000000123,"temperature":21,"humidity":40.5,"door":false}')
    assert t.points == (
        Point("dev-1", 1764000000123, {"temperature": 21.0, "humidity": 40.5, "door": False}),
    )
    assert type(t.points[0].fields["temperature"]) is float
    assert (t.boot, t.seq) == (None, None)


def test_age_is_resolved_against_receive_time_and_no_time_means_receive_time() -> None:
    assert decode(b'{"age":1500,"v":1}').points[0].ts_ms == NOW - 1500
    assert decode(b'{"v":1}').points[0].ts_ms == NOW


def test_batch_numbers_its_readings_from_seq() -> None:
    t = decode(b'{"boot":17,"seq":1042,"readings":[{"ts":1763999999000,"v":1},{"age":10,"v":2}]}')
    assert (t.boot, t.seq) == (17, 1042)
    assert [p.fields for p in t.points] == [{"v": 1.0, "seq": 1042}, {"v": 2.0, "seq": 1043}]
    assert [p.ts_ms for p in t.points] == [1763999999000, NOW - 10]


def test_flat_reading_may_carry_boot_and_seq() -> None:
    t = decode(b'{"boot":2,"seq":9,"ts":1764000000000,"v":3}')
    assert (t.boot, t.seq, t.points[0].fields) == (2, 9, {"v": 3.0, "seq": 9})


def test_device_comes_from_the_topic_only() -> None:
    assert parse_topic("sf", "sf/dev-7/telemetry") == ("dev-7", "telemetry")
    assert parse_topic("sf", "sf/dev-7/cmd/result") == ("dev-7", "cmd_result")
    with pytest.raises(PayloadError, match="device"):
        decode(b'{"device":"dev-2","v":1}')


@pytest.mark.parametrize(
    "topic",
    [
        "sf/Dev-1/telemetry",
        "sf/-x/telemetry",
        "other/dev-1/telemetry",
        "sf/dev-1/cmd",
        "sf/" + "a" * 64 + "/status",
    ],
)
def test_invalid_topics_are_refused(topic: str) -> None:
    with pytest.raises(PayloadError):
        parse_topic("sf", topic)


@pytest.mark.parametrize(
    "payload",
    [
        b"\xff\xfe",
        b"{bad",
        b"[]",
        b"{}",
        b'{"v":"1"}',
        b'{"v":null}',
        b'{"v":NaN}',
        b'{"v":1e999}',
        b'{"1v":1}',
        b'{"time":1}',
        b'{"a b":1}',
        b'{"' + b"a" * 65 + b'":1}',
        b'{"ts":1.0,"v":1}',
        b'{"ts":true,"v":1}',
        b'{"ts":1764000000000,"age":5,"v":1}',
        b'{"age":-1,"v":1}',
        b'{"ts":1763900000000,"v":1}',
        b'{"ts":1764000400000,"v":1}',
        b'{"boot":1,"v":1}',
        b'{"boot":1,"seq":-2,"readings":[{"v":1}]}',
        b'{"boot":1,"seq":0,"readings":[]}',
        b'{"boot":1,"seq":0,"readings":[{"v":1,"seq":4}]}',
        b'{"boot":1,"seq":0,"readings":[{"v":1}],"extra":1}',
        b'{"v":1,"pad":"' + b"x" * 5000 + b'"}',
    ],
)
def test_invalid_telemetry_is_a_payload_error(payload: bytes) -> None:
    with pytest.raises(PayloadError):
        decode(payload)


# Readings near the common form, and the ways a reading may leave it.
TS = st.one_of(
    st.integers(NOW - 90_000_000, NOW + 400_000), st.integers(-(2**63), 2**64 - 1), st.floats(), st.booleans()
)
VALUE = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.integers(-(2**63), 2**64 - 1),
    st.text(max_size=3),
    st.none(),
)
NAME = st.sampled_from(["v", "temp", "rh", "seq", "boot", "age", "time", "device", "1v", "a b", "ts"])
COMMON = st.builds(
    lambda ts, metrics: {"ts": ts, **metrics},
    st.integers(NOW - 80_000_000, NOW + 300_000),
    st.dictionaries(
        st.sampled_from(["v", "temp", "rh"]),
        st.floats(-1e300, 1e300) | st.booleans() | st.integers(-(2**63), 2**64 - 1),
        min_size=1,
    ),
)
ODD = st.one_of(
    st.dictionaries(NAME, VALUE, max_size=5),
    st.builds(lambda ts, metrics: {"ts": ts, **metrics}, TS, st.dictionaries(NAME, VALUE, max_size=5)),
    VALUE,
    st.lists(st.integers(-5, 5), max_size=2),
)


def shape(points: tuple[Point, ...]) -> list[Any]:
    """Points with each value's type and the fields' order: `1.0 == True` would hide a boolean."""
    return [(p.device, p.ts_ms, [(k, type(v), v) for k, v in p.fields.items()]) for p in points]


@settings(max_examples=300, deadline=None)
@example(
    readings=[{"ts": NOW, "age": 1.5, "v": 1.0}], seq=None
)  # reserved keys, with values a metric may have
@example(readings=[{"ts": NOW, "seq": 2.0, "v": 1.0}], seq=1)
@example(readings=[{"ts": NOW, "boot": True, "v": 1.0}], seq=1)
@given(
    readings=st.lists(COMMON, min_size=1, max_size=25) | st.lists(COMMON | ODD, min_size=1, max_size=25),
    seq=st.none() | st.integers(0, 2**40),
)
def test_a_batch_in_the_common_form_gives_the_points_the_exact_decoder_gives(
    readings: list[Any], seq: int | None
) -> None:
    """The common form is checked a whole batch at a time (`_common_points`); whatever it takes, the
    reading-by-reading decoder (`_exact_points`) takes and makes the same points of, and it takes
    nothing the exact decoder refuses."""
    limits = Limits(max_payload_bytes=1 << 20, max_past_ms=86_400_000, max_future_ms=300_000, max_metrics=2)
    payload = orjson.dumps(readings)
    _exact_points("dev-0", [{"v": 1.0, "temp": 1.0}, {"rh": 1.0}], NOW, limits, None)  # names seen before
    try:
        exact = shape(_exact_points("dev-1", orjson.loads(payload), NOW, limits, seq))  # learns the names
    except PayloadError:
        exact = None
    common = _common_points("dev-1", orjson.loads(payload), NOW, limits, seq)
    if common is not None:
        assert shape(common) == exact


def test_a_batch_of_known_names_takes_the_common_form() -> None:
    readings = [{"ts": NOW - k, "v": float(k), "door": k % 2 == 0} for k in range(20)]
    decode(orjson.dumps({"boot": 1, "seq": 7, "readings": readings}))  # names seen once
    points = _common_points("dev-1", orjson.loads(orjson.dumps(readings)), NOW, LIMITS, 7)
    assert points is not None
    assert points[0] == Point("dev-1", NOW, {"v": 0.0, "door": True, "seq": 7})
    assert {type(p) for p in points} == {Point}
    assert [p.fields["seq"] for p in points] == list(range(7, 27))


def test_telemetry_names_the_fields_its_points_use() -> None:
    batch = decode(b'{"boot":1,"seq":5,"readings":[{"ts":1764000000000,"v":1},{"ts":1764000000001,"rh":2}]}')
    assert batch.names() == {"v", "rh", "seq"}
    assert decode(b'{"door":true}').names() == {"door"}


def test_timestamps_inside_the_window_are_accepted() -> None:
    assert decode(b'{"ts":1763913600001,"v":1}').points[0].ts_ms == 1763913600001
    assert decode(b'{"ts":1764000300000,"v":1}').points[0].ts_ms == 1764000300000


def test_status_birth_and_last_will() -> None:
    birth = decode_status(b'{"online":true,"fw":"1.2.0","boot":3,"rssi":-61,"outbox":4}', LIMITS)
    assert (birth.online, birth.fw, birth.boot, birth.rssi, birth.extra) == (
        True,
        "1.2.0",
        3,
        -61.0,
        {"outbox": 4},
    )
    assert decode_status(b'{"online":false}', LIMITS).online is False
    with pytest.raises(PayloadError):
        decode_status(b'{"online":"yes"}', LIMITS)
