"""Decodes and validates what devices publish (design.md §2); everything invalid is a PayloadError.

The device id comes only from the topic. Numbers are stored as float, booleans stay bool.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from ingest.errors import PayloadError
from ingest.points import FieldValue, Point

DEVICE_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
METRIC_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.]{0,63}$")
RESERVED_KEYS = frozenset({"ts", "age", "seq", "boot"})
RESERVED_METRICS = frozenset({"time", "device"})  # InfluxDB's time column; the device tag
MAX_READINGS = 10_000
_INT64 = 1 << 63

TopicKind = Literal["telemetry", "status", "cmd_result"]
_SUFFIXES: dict[str, TopicKind] = {"telemetry": "telemetry", "status": "status", "cmd/result": "cmd_result"}


@dataclass(frozen=True, slots=True)
class Limits:
    max_payload_bytes: int = 256 * 1024
    max_past_ms: int = 30 * 24 * 3600 * 1000
    max_future_ms: int = 300 * 1000


@dataclass(frozen=True, slots=True)
class Telemetry:
    """One telemetry message: its points and, when the device numbers its readings, (boot, first seq)."""

    device: str
    points: tuple[Point, ...]
    boot: int | None = None
    seq: int | None = None


def parse_topic(prefix: str, topic: str) -> tuple[str, TopicKind]:
    """`<prefix>/<device>/<suffix>` → (device, kind); the device id is checked against the contract."""
    head, sep, rest = topic.partition("/")
    if head != prefix or not sep:
        raise PayloadError(f"topic {topic!r} is not under prefix {prefix!r}")
    device, sep, suffix = rest.partition("/")
    if not sep or suffix not in _SUFFIXES:
        raise PayloadError(f"topic {topic!r} is not a device topic")
    if not DEVICE_ID.match(device):
        raise PayloadError(f"device id {device!r} in topic is invalid")
    return device, _SUFFIXES[suffix]


def decode_json(payload: bytes, limits: Limits) -> Any:
    if len(payload) > limits.max_payload_bytes:
        raise PayloadError(f"payload of {len(payload)} bytes exceeds {limits.max_payload_bytes}")
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError as e:
        raise PayloadError(f"invalid JSON: {e}") from None


def decode_telemetry(device: str, payload: bytes, received_ms: int, limits: Limits) -> Telemetry:
    """A reading `{ts|age, metric: value...}` or a batch `{"boot","seq","readings":[...]}`."""
    doc = decode_json(payload, limits)
    if not isinstance(doc, dict):
        raise PayloadError("telemetry must be a JSON object")
    if "readings" in doc:
        return _decode_batch(device, doc, received_ms, limits)
    boot, seq = _counter(doc, "boot"), _counter(doc, "seq")
    if (boot is None) != (seq is None):
        raise PayloadError("`boot` and `seq` go together")
    point = _decode_reading(device, doc, received_ms, limits, seq)
    return Telemetry(device, (point,), boot, seq)


def _decode_batch(device: str, doc: dict[str, Any], received_ms: int, limits: Limits) -> Telemetry:
    unknown = set(doc) - {"boot", "seq", "readings"}
    if unknown:
        raise PayloadError(f"unknown batch keys: {sorted(unknown)}")
    readings = doc["readings"]
    if not isinstance(readings, list) or not readings:
        raise PayloadError("`readings` must be a non-empty list")
    if len(readings) > MAX_READINGS:
        raise PayloadError(f"batch of {len(readings)} readings exceeds {MAX_READINGS}")
    boot, seq = _counter(doc, "boot"), _counter(doc, "seq")
    if (boot is None) != (seq is None):
        raise PayloadError("`boot` and `seq` go together")
    points = []
    for i, reading in enumerate(readings):
        if not isinstance(reading, dict):
            raise PayloadError(f"reading {i} is not an object")
        if "seq" in reading or "boot" in reading:
            raise PayloadError(f"reading {i}: `seq`/`boot` belong to the batch")
        points.append(_decode_reading(device, reading, received_ms, limits, None if seq is None else seq + i))
    return Telemetry(device, tuple(points), boot, seq)


def _counter(doc: dict[str, Any], key: str) -> int | None:
    value = doc.get(key)
    if value is None:
        return None
    if type(value) is not int or not 0 <= value < _INT64:
        raise PayloadError(f"`{key}` must be a non-negative integer")
    return value


def _decode_reading(
    device: str, reading: dict[str, Any], received_ms: int, limits: Limits, seq: int | None
) -> Point:
    fields: dict[str, FieldValue] = {}
    for key, value in reading.items():
        if key in RESERVED_KEYS:
            continue
        if key not in _valid_names:
            _check_metric_name(key)
        kind = type(value)
        if kind is float:
            if value - value != 0:  # NaN or ±Inf
                raise PayloadError(f"metric {key!r} is not a finite number")
            fields[key] = value
        elif kind is bool:
            fields[key] = value
        elif kind is int:
            number = float(value)
            if number - number != 0:
                raise PayloadError(f"metric {key!r} is too large")
            fields[key] = number
        else:
            raise PayloadError(f"metric {key!r} must be a number or a boolean, not {type(value).__name__}")
    if not fields:
        raise PayloadError("reading has no metrics")
    if seq is not None:
        fields["seq"] = seq
    return Point(device, _timestamp(reading, received_ms, limits), fields)


_valid_names: set[str] = set()


def _check_metric_name(key: str) -> None:
    """Validates a metric name and remembers it (bounded): devices send the same few names all day."""
    if not METRIC_NAME.match(key) or key in RESERVED_METRICS:
        raise PayloadError(f"invalid metric name {key[:80]!r}")
    if len(_valid_names) >= 100_000:
        _valid_names.clear()
    _valid_names.add(key)


def _timestamp(reading: dict[str, Any], received_ms: int, limits: Limits) -> int:
    ts, age = reading.get("ts"), reading.get("age")
    if ts is not None and age is not None:
        raise PayloadError("a reading has `ts` or `age`, not both")
    if ts is not None:
        if type(ts) is not int:
            raise PayloadError("`ts` must be integer epoch milliseconds")
        when = ts
    elif age is not None:
        if type(age) is not int or age < 0:
            raise PayloadError("`age` must be non-negative integer milliseconds")
        when = received_ms - age
    else:
        return received_ms
    if when < received_ms - limits.max_past_ms:
        raise PayloadError(f"timestamp {when} is older than the accepted window")
    if when > received_ms + limits.max_future_ms:
        raise PayloadError(f"timestamp {when} is ahead of the receive time {received_ms}")
    return when


@dataclass(frozen=True, slots=True)
class Status:
    online: bool
    fw: str | None = None
    boot: int | None = None
    rssi: float | None = None
    extra: dict[str, Any] | None = None


def decode_status(payload: bytes, limits: Limits) -> Status:
    """Birth `{"online":true,"fw":...}` or last will `{"online":false}`; unknown keys are kept as extra."""
    doc = decode_json(payload, limits)
    if not isinstance(doc, dict) or type(doc.get("online")) is not bool:
        raise PayloadError("status must be an object with a boolean `online`")
    fw, boot, rssi = doc.get("fw"), doc.get("boot"), doc.get("rssi")
    if fw is not None and not isinstance(fw, str):
        raise PayloadError("`fw` must be a string")
    if boot is not None and type(boot) is not int:
        raise PayloadError("`boot` must be an integer")
    if rssi is not None and (type(rssi) not in (int, float) or not math.isfinite(rssi)):
        raise PayloadError("`rssi` must be a number")
    extra = {k: v for k, v in doc.items() if k not in {"online", "fw", "boot", "rssi"}}
    return Status(doc["online"], fw, boot, None if rssi is None else float(rssi), extra)
