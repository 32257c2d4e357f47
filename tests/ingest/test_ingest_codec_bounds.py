"""The bounded schemas of every payload kind (design.md §9): hand-picked edges, then Hypothesis over
whole payloads: whatever a device sends, decoding gives a value within the bounds or a PayloadError,
never any other exception."""

from __future__ import annotations

import math
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.codec.payload import (
    STATUS_EXTRAS,
    Limits,
    decode_command_result,
    decode_status,
    decode_telemetry,
)
from ingest.contract import INT64_MAX, MAX_FW_CHARS
from ingest.errors import PayloadError

NOW = 1_764_000_000_000
CONTROL = {chr(c) for c in [*range(0x09), *range(0x0B, 0x20), 0x7F]}
"""ASCII control characters but tab and newline: never in a stored status string."""
LIMITS = Limits()


def status(doc: dict[str, Any]):  # type: ignore[no-untyped-def]
    return decode_status(orjson.dumps(doc), LIMITS)


def test_status_integers_fit_a_signed_64_bit() -> None:
    assert status({"online": True, "boot": INT64_MAX}).boot == INT64_MAX
    for key in ("boot", "uptime_s", "outbox", "dropped", "heap_free", "crashes"):
        with pytest.raises(PayloadError, match=key):
            status({"online": True, key: INT64_MAX + 1})
        with pytest.raises(PayloadError, match=key):
            status({"online": True, key: -1})


@pytest.mark.parametrize(
    "doc",
    [
        {"online": True, "fw": "x" * (MAX_FW_CHARS + 1)},
        {"online": True, "fw": "0.1.0\n"},
        {"online": True, "fw": "<img src=x onerror=alert(1)>"},
        {"online": True, "fw": "<script>"},
        {"online": True, "reset_cause": "x" * 33},
        {"online": True, "reset_cause": "<b>"},
        {"online": True, "outbox": "<img src=x onerror=alert(1)>"},
        {"online": True, "dropped": 1.5},
        {"online": True, "synced": "yes"},
        {"online": True, "interval_s": 0},
        {"online": True, "rssi": -1e300},
        {"online": True, "error": "bell\x07"},
        {"online": True, "error": "x" * 201},
        {"online": 1},
    ],
)
def test_status_fields_are_typed_and_short(doc: dict[str, Any]) -> None:
    with pytest.raises(PayloadError, match="invalid status"):
        status(doc)


def test_unknown_status_keys_are_dropped_and_counted() -> None:
    s = status({"online": True, "fw": "1.0", "outbox": 3, "blob": "x" * 200_000, "nested": {"a": [1]}})
    assert s.extra == {"outbox": 3} and s.dropped_keys == 2


def test_telemetry_bounds() -> None:
    with pytest.raises(PayloadError, match="signed 64-bit"):
        decode_telemetry(
            "d", b'{"boot":3,"seq":9223372036854775807,"readings":[{"t":1.0},{"t":2.0}]}', NOW, LIMITS
        )
    last = decode_telemetry(
        "d", b'{"boot":3,"seq":9223372036854775806,"readings":[{"t":1.0},{"t":2.0}]}', NOW, LIMITS
    )
    assert last.points[-1].fields["seq"] == INT64_MAX
    many = orjson.dumps({f"m{i}": 1.0 for i in range(65)})
    with pytest.raises(PayloadError, match="more than 64 metrics"):
        decode_telemetry("d", many, NOW, LIMITS)
    assert (
        len(
            decode_telemetry("d", orjson.dumps({f"m{i}": 1.0 for i in range(64)}), NOW, LIMITS)
            .points[0]
            .fields
        )
        == 64
    )
    with pytest.raises(PayloadError, match="invalid metric name"):
        decode_telemetry("d", b'{"temp\\n":1.0}', NOW, LIMITS)


def test_command_results_are_small_and_named() -> None:
    assert decode_command_result(b'{"id":"c1","ok":true,"result":{"interval_s":30}}', LIMITS).id == "c1"
    with pytest.raises(PayloadError, match="exceeds 4096"):
        decode_command_result(orjson.dumps({"id": "c1", "ok": True, "result": "x" * 5000}), LIMITS)
    for doc in (
        {"id": "c1\n"},
        {"id": "<script>"},
        {"id": 1},
        {"ok": True},
        {"id": "c1", "extra": 1},
        ["c1"],
    ):
        with pytest.raises(PayloadError):
            decode_command_result(orjson.dumps(doc), LIMITS)


# Hypothesis over whole payloads -----------------------------------------------------------------------
EXTREME_INTS = st.sampled_from([0, -1, INT64_MAX, INT64_MAX + 1, -(2**63), 2**64 - 1]) | st.integers()
EXTREME_FLOATS = st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from(
    [1e308, -1e308, 5e-324, -0.0]
)
EXTREME_TEXT = st.text(max_size=80) | st.sampled_from(
    ["", "\n", "x\n", "<img src=x onerror=1>", "x" * 5000, "\x00"]
)
SCALAR = st.none() | st.booleans() | EXTREME_INTS | EXTREME_FLOATS | EXTREME_TEXT
JSON = st.recursive(
    SCALAR,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(EXTREME_TEXT, inner, max_size=6),
    max_leaves=20,
)
KEYS = (
    st.sampled_from(sorted(STATUS_EXTRAS | {"online", "fw", "boot", "rssi", "ts", "age", "seq", "t", "v"}))
    | EXTREME_TEXT
)


def encode(doc: Any) -> bytes:
    try:
        return orjson.dumps(doc)
    except (TypeError, orjson.JSONEncodeError):  # an int beyond 64 bits: send its text instead
        return repr(doc).encode()


def within_bounds(value: Any) -> bool:
    if isinstance(value, bool) or value is None:
        return True
    if isinstance(value, int):
        return -(2**63) <= value <= INT64_MAX
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, str):
        return len(value) <= 200 and not any(c in CONTROL for c in value)
    return False


@settings(max_examples=200, deadline=None)
@given(doc=st.dictionaries(KEYS, JSON, max_size=12), batch=st.booleans(), boot=EXTREME_INTS, seq=EXTREME_INTS)
def test_any_telemetry_decodes_within_bounds_or_is_refused(
    doc: dict[str, Any], batch: bool, boot: int, seq: int
) -> None:
    payload = encode({"boot": boot, "seq": seq, "readings": [doc, doc]} if batch else doc)
    try:
        t = decode_telemetry("dev-1", payload, NOW, LIMITS)
    except PayloadError:
        return
    for point in t.points:
        assert 0 < len(point.fields) <= LIMITS.max_metrics + 1
        assert all(within_bounds(v) for v in point.fields.values())
    if t.seq is not None:
        assert t.seq >= 0 and t.seq + len(t.points) - 1 <= INT64_MAX


@settings(max_examples=200, deadline=None)
@given(doc=st.dictionaries(KEYS, JSON, max_size=12), online=st.booleans())
def test_any_status_decodes_within_bounds_or_is_refused(doc: dict[str, Any], online: bool) -> None:
    try:
        s = decode_status(encode({**doc, "online": online}), LIMITS)
    except PayloadError:
        return
    assert set(s.extra or {}) <= STATUS_EXTRAS
    assert all(within_bounds(v) for v in [s.fw, s.boot, s.rssi, *(s.extra or {}).values()])


@settings(max_examples=200, deadline=None)
@given(doc=JSON)
def test_any_command_result_is_small_or_refused(doc: Any) -> None:
    payload = encode(doc)
    try:
        result = decode_command_result(payload, LIMITS)
    except PayloadError:
        return
    assert len(result.body) <= 4096 and result.id.isascii()
