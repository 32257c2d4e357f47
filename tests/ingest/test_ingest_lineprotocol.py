"""The line-protocol encoder, proven against a real InfluxDB 1.6.7: what it encodes reads back equal.

Anything the protocol cannot carry must be refused by the encoder, never written mangled.
"""

from __future__ import annotations

import itertools
import math
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

from ingest.codec.lineprotocol import encode_points, no_tags
from ingest.errors import PayloadError
from ingest.points import Point
from support.influx import InfluxDB

SPECIALS = ',= "\\\n\r\t#'
printable = st.characters(codec="utf-8", exclude_categories=("Cc", "Cs"))
clean = st.text(alphabet=st.one_of(st.sampled_from(',= "\\#'), printable), min_size=1, max_size=12)
wild = st.text(alphabet=st.one_of(st.sampled_from(SPECIALS), st.characters(codec="utf-8")), max_size=12)
names = st.one_of(clean, clean, clean, wild)  # mostly writable, so most examples reach the server
values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.booleans(),
    st.text(alphabet=st.one_of(st.sampled_from(SPECIALS), printable), max_size=20),
)
CONTROL = ("\n", "\r", "\t", "\x00")
_ts = itertools.count(1_700_000_000_000)
_serial = itertools.count()


def representable(measurement: str, tags: dict[str, str], fields: dict[str, Any]) -> bool:
    """What line protocol can carry: the cases the encoder may NOT refuse."""
    names = [measurement, *tags, *tags.values(), *fields]
    if any(not n or re.search(r'\\([,= "\\]|$)', n) or any(c in n for c in CONTROL) for n in names):
        return False
    if measurement.startswith("#") or "time" in tags or "time" in fields:
        return False
    for v in fields.values():
        if isinstance(v, float) and not math.isfinite(v):
            return False
        if isinstance(v, int) and not isinstance(v, bool) and not -(2**63) <= v < 2**63:
            return False
        if isinstance(v, str) and any(c in v for c in CONTROL):
            return False
    return True


def encode_one(measurement: str, tags: dict[str, str], fields: dict[str, Any], ts_ms: int = 1) -> str:
    """The line of one point of device `d` (its `device` tag beside `tags`)."""
    return encode_points(measurement, lambda device: tags, [Point("d", ts_ms, fields)]).decode()


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_nan_and_infinity_are_refused(value: float) -> None:
    with pytest.raises(PayloadError):
        encode_one("telemetry", {}, {"v": value})


@pytest.mark.parametrize("name", ["a\nb", "a\rb", "", "trailing\\", "a\\=b", "a\\ b", "a\\\\b"])
def test_newlines_empty_names_and_trailing_backslash_are_refused(name: str) -> None:
    for args in ((name, {}, {"v": 1.0}), ("m", {name: "x"}, {"v": 1.0}), ("m", {"t": name}, {"v": 1.0})):
        with pytest.raises(PayloadError):
            encode_one(*args)  # type: ignore[arg-type]
    with pytest.raises(PayloadError):
        encode_one("m", {}, {name: 1.0})


def test_keys_named_time_are_refused() -> None:
    with pytest.raises(PayloadError):
        encode_one("m", {"time": "x"}, {"v": 1.0})
    with pytest.raises(PayloadError):
        encode_one("m", {}, {"time": 1.0})


def test_escaping_follows_the_spec() -> None:
    line = encode_one(
        'm e,a"s', {"t k=": "v ,="}, {"f,k": 1.5, "s": 'say "hi" \\ there', "n": 3, "b": True}, 5
    )
    head = 'm\\ e\\,a"s,device=d,t\\ k\\==v\\ \\,\\='
    assert line == head + ' f\\,k=1.5,s="say \\"hi\\" \\\\ there",n=3i,b=true 5'


def test_points_carry_the_device_tag_and_ms_timestamp() -> None:
    body = encode_points("telemetry", no_tags, [Point("dev-1", 7, {"v": 1.0, "seq": 3, "ok": False})])
    assert body == b"telemetry,device=dev-1 v=1.0,seq=3i,ok=false 7"


def test_points_carry_their_device_s_tags_escaped_asked_once_per_device() -> None:
    tags = {"dev-1": {"site": "green house,2", "zone": "a=b"}, "dev-2": {"site": "lab"}}
    asked: list[str] = []

    def tags_for(device: str) -> dict[str, str]:
        asked.append(device)
        return tags.get(device, {})

    points = [Point(d, ts, {"v": 1.0}) for ts, d in enumerate(["dev-1", "dev-2", "dev-1", "dev-3", "dev-2"])]
    assert encode_points("telemetry", tags_for, points).decode().splitlines() == [
        r"telemetry,device=dev-1,site=green\ house\,2,zone=a\=b v=1.0 0",
        "telemetry,device=dev-2,site=lab v=1.0 1",
        r"telemetry,device=dev-1,site=green\ house\,2,zone=a\=b v=1.0 2",
        "telemetry,device=dev-3 v=1.0 3",
        "telemetry,device=dev-2,site=lab v=1.0 4",
    ]
    assert asked == ["dev-1", "dev-2", "dev-3"]


def test_a_device_tag_named_device_cannot_replace_the_device_tag() -> None:
    body = encode_points("telemetry", lambda device: {"device": "other"}, [Point("dev-1", 7, {"v": 1.0})])
    assert body == b"telemetry,device=dev-1 v=1.0 7"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    measurement=names,
    device=names,
    tags=st.dictionaries(names, names, max_size=3),
    fields=st.dictionaries(names, values, min_size=1, max_size=4),
)
def test_encode_write_read_back_equals_input_or_is_refused(
    influxd: InfluxDB, measurement: str, device: str, tags: dict[str, str], fields: dict[str, Any]
) -> None:
    ts = next(_ts)
    tags = {**tags, "device": device}  # a device's own tag named `device` gives way to its id
    try:
        line = encode_points(measurement, lambda _: tags, [Point(device, ts, fields)]).decode()
    except PayloadError:
        assert not representable(measurement, tags, fields), "refused a point line protocol can carry"
        return
    assert representable(measurement, tags, fields), f"encoded an unrepresentable point: {line!r}"
    event("written")
    note(f"line: {line!r}")
    # A database of its own: field types of other examples must not meet this one in `FROM /.*/`.
    db = f"lp_{next(_serial)}"
    influxd.create_database(db)
    try:
        influxd.write(db, line)
        series = influxd.query(f"SELECT * FROM /.*/ WHERE time = {ts}ms GROUP BY *", db=db)
    finally:
        influxd.query(f'DROP DATABASE "{db}"', method="POST")
    assert len(series) == 1, series
    [s] = series
    row = dict(zip(s["columns"], s["values"][0], strict=True))
    assert s["name"] == measurement
    assert {k: v for k, v in s.get("tags", {}).items() if v != ""} == tags
    assert row.pop("time") == ts
    stored = {k: v for k, v in row.items() if v is not None}
    assert stored.keys() == fields.keys()
    for key, value in fields.items():
        if isinstance(value, float):  # JSON may give a float back without a fraction: compare as numbers
            assert type(stored[key]) in (int, float) and float(stored[key]) == value, key
        else:
            assert type(stored[key]) is type(value) and stored[key] == value, key
