"""Decodes and validates what devices publish (design.md §2, §9); everything invalid is a PayloadError.

Each payload kind has a typed, bounded schema: integers that reach storage fit a signed 64-bit, floats
are finite, strings are short, a reading has at most `max_metrics` metrics, status extras are
allow-listed and typed (unknown keys are dropped and counted), command results are small. The device
id comes only from the topic. Numbers are stored as float, booleans stay bool.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain
from operator import attrgetter
from typing import Annotated, Any, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from ingest.contract import (
    COMMAND_ID,
    FW_VERSION,
    INT64_MAX,
    MAX_COMMAND_RESULT_BYTES,
    MAX_METRICS_PER_READING,
    MAX_READINGS_PER_BATCH,
    MAX_STATUS_TEXT_CHARS,
    RESERVED_KEYS,
    SHORT_NAME,
    STATUS_TEXT,
    OtaState,
    is_metric_name,
)
from ingest.errors import PayloadError
from ingest.points import FieldValue, Point, points_of


@dataclass(frozen=True, slots=True)
class Limits:
    max_payload_bytes: int = 256 * 1024
    max_past_ms: int = 30 * 24 * 3600 * 1000
    max_future_ms: int = 300 * 1000
    max_metrics: int = MAX_METRICS_PER_READING
    """Metrics in one reading."""


@dataclass(frozen=True, slots=True)
class Telemetry:
    """One telemetry message: its points and, when the device numbers its readings, (boot, first seq)."""

    device: str
    points: tuple[Point, ...]
    boot: int | None = None
    seq: int | None = None

    def names(self) -> set[str]:
        """The field names its points use: the metrics, and `seq` when numbered."""
        return set().union(*map(_FIELDS, self.points))


_FIELDS = attrgetter("fields")


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
    if len(readings) > MAX_READINGS_PER_BATCH:
        raise PayloadError(f"batch of {len(readings)} readings exceeds {MAX_READINGS_PER_BATCH}")
    boot, seq = _counter(doc, "boot"), _counter(doc, "seq")
    if (boot is None) != (seq is None):
        raise PayloadError("`boot` and `seq` go together")
    if seq is not None and seq + len(readings) - 1 > INT64_MAX:
        raise PayloadError("`seq` of the last reading would exceed a signed 64-bit integer")
    points = _common_points(device, readings, received_ms, limits, seq)
    if points is None:
        points = _exact_points(device, readings, received_ms, limits, seq)
    return Telemetry(device, points, boot, seq)


_COMMON_KINDS = frozenset({int, float, bool})
"""The types of a common reading's values: `ts`, and metrics (orjson reads no NaN or infinity)."""


def _common_points(
    device: str, readings: list[Any], received_ms: int, limits: Limits, seq: int | None
) -> tuple[Point, ...] | None:
    """The points of a batch in the common form, checked a whole batch at a time with built-ins: every
    reading an object with an integer `ts` inside the window and 1 to `max_metrics` metrics, all of
    them names seen before, with finite float or boolean values. None for anything else, which
    `_exact_points` then decodes (or says what is wrong). Readings of a busy fleet come this way, so it
    leaves the per-reading loop to C; the points are those `_exact_points` would make."""
    if set(map(type, readings)) != {dict}:
        return None
    names = set(chain.from_iterable(readings))
    names.discard("ts")
    if not _valid_names.issuperset(names):  # remembered names are never reserved keys
        return None
    stamps = [r.get("ts") for r in readings]
    if set(map(type, stamps)) != {int}:
        return None
    if min(stamps) < received_ms - limits.max_past_ms or max(stamps) > received_ms + limits.max_future_ms:
        return None
    sizes = list(map(len, readings))  # `ts` and the metrics
    if min(sizes) < 2 or max(sizes) > limits.max_metrics + 1:
        return None
    kinds = list(map(type, chain.from_iterable(map(dict.values, readings))))
    if kinds.count(int) != len(readings) or not _COMMON_KINDS.issuperset(kinds):
        return None  # an integer besides `ts`, or a value neither a float nor a boolean
    for reading in readings:
        del reading["ts"]  # the reading's own dict, fresh from the decoder, becomes the point's fields
    if seq is not None:
        for n, reading in enumerate(readings, seq):
            reading["seq"] = n
    return tuple(points_of(device, stamps, readings))


def _exact_points(
    device: str, readings: list[Any], received_ms: int, limits: Limits, seq: int | None
) -> tuple[Point, ...]:
    points = []
    for i, reading in enumerate(readings):
        if not isinstance(reading, dict):
            raise PayloadError(f"reading {i} is not an object")
        if "seq" in reading or "boot" in reading:
            raise PayloadError(f"reading {i}: `seq`/`boot` belong to the batch")
        points.append(_decode_reading(device, reading, received_ms, limits, None if seq is None else seq + i))
    return tuple(points)


def _counter(doc: dict[str, Any], key: str) -> int | None:
    value = doc.get(key)
    if value is None:
        return None
    if type(value) is not int or not 0 <= value <= INT64_MAX:
        raise PayloadError(f"`{key}` must be a non-negative integer")
    return value


def _decode_reading(
    device: str, reading: dict[str, Any], received_ms: int, limits: Limits, seq: int | None
) -> Point:
    if len(reading) > limits.max_metrics + len(RESERVED_KEYS):
        raise PayloadError(f"a reading has more than {limits.max_metrics} metrics")
    fields: dict[str, FieldValue] = {}
    for key, value in reading.items():
        if key not in _valid_names:  # remembered names are metrics, never reserved keys
            if key in RESERVED_KEYS:
                continue
            _check_metric_name(key)
        kind = type(value)
        if kind is float:
            if value - value != 0:  # NaN or ±Inf
                raise PayloadError(f"metric {key!r} is not a finite number")
            fields[key] = value
        elif kind is int:
            number = float(value)
            if number - number != 0:
                raise PayloadError(f"metric {key!r} is too large")
            fields[key] = number
        elif kind is bool:
            fields[key] = value
        else:
            raise PayloadError(f"metric {key!r} must be a number or a boolean, not {type(value).__name__}")
    if not fields:
        raise PayloadError("reading has no metrics")
    if len(fields) > limits.max_metrics:
        raise PayloadError(f"a reading has more than {limits.max_metrics} metrics")
    if seq is not None:
        fields["seq"] = seq
    return Point(device, _timestamp(reading, received_ms, limits), fields)


_valid_names: set[str] = set()


def _check_metric_name(key: str) -> None:
    """Validates a metric name and remembers it (bounded): devices send the same few names all day."""
    if not is_metric_name(key):
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


Model = TypeVar("Model", bound=BaseModel)
Count = Annotated[int, Field(ge=0, le=INT64_MAX)]
Word = Annotated[str, StringConstraints(pattern=SHORT_NAME.pattern)]
"""A short lower-case name: `hal`, `reset_cause`."""
Text = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_STATUS_TEXT_CHARS, pattern=STATUS_TEXT.pattern),
]
"""Free text (an error, a crash's last lines): no control characters but tab and newline."""


class StatusIn(BaseModel):
    """A board's birth `{"online":true,"fw":...}` or last will `{"online":false}`, as the firmware sends it
    (docs/protocol.md). Every key a board may add is typed here; others are dropped and counted."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)

    online: bool
    fw: Annotated[str, StringConstraints(pattern=FW_VERSION.pattern)] | None = None
    boot: Count | None = None
    rssi: Annotated[float, Field(ge=-200, le=100, allow_inf_nan=False)] | None = None
    hal: Word | None = None
    uptime_s: Count | None = None
    heap_free: Count | None = None
    heap_peak: Count | None = None
    outbox: Count | None = None
    dropped: Count | None = None
    reset_cause: Word | None = None
    interval_s: Annotated[float, Field(gt=0, le=7 * 24 * 3600, allow_inf_nan=False)] | None = None
    batch_max: Annotated[int, Field(ge=1, le=10_000)] | None = None
    synced: bool | None = None
    sensor_errors: Count | None = None
    crashes: Count | None = None
    error: Text | None = None
    tls_insecure: bool | None = None
    safe_mode: bool | None = None
    outbox_kb: Count | None = None
    flash_full: Count | None = None
    crash_boots: Count | None = None
    crashes_total: Count | None = None
    last_crash: Text | None = None
    ota: OtaState | None = None
    ota_v: Annotated[str, StringConstraints(pattern=FW_VERSION.pattern)] | None = None
    ota_progress: Annotated[int, Field(ge=0, le=100)] | None = None
    ota_reason: Text | None = None


STATUS_CORE = frozenset({"online", "fw", "boot", "rssi"})
STATUS_EXTRAS = frozenset(StatusIn.model_fields) - STATUS_CORE


@dataclass(frozen=True, slots=True)
class Status:
    online: bool
    fw: str | None = None
    boot: int | None = None
    rssi: float | None = None
    extra: dict[str, Any] | None = None
    """The allow-listed keys besides the four above, as sent."""
    dropped_keys: int = 0
    """Keys the schema does not know, left out."""


def decode_status(payload: bytes, limits: Limits) -> Status:
    doc, status = _validated(StatusIn, "status", payload, limits)
    sent = status.model_dump(exclude_unset=True)
    return Status(
        status.online,
        status.fw,
        status.boot,
        None if status.rssi is None else float(status.rssi),
        {k: v for k, v in sent.items() if k in STATUS_EXTRAS},
        len(set(doc) - set(sent)),
    )


class CommandResultIn(BaseModel):
    """A board's answer `{"id","ok","result"|"error"}`; `result` is any small JSON value."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    id: Annotated[str, StringConstraints(pattern=COMMAND_ID.pattern)]
    ok: bool | None = None
    result: Any = None
    error: Text | None = None


@dataclass(frozen=True, slots=True)
class CommandResult:
    id: str
    body: bytes
    """The payload as received (at most MAX_COMMAND_RESULT_BYTES)."""


def decode_command_result(payload: bytes, limits: Limits) -> CommandResult:
    if len(payload) > MAX_COMMAND_RESULT_BYTES:
        raise PayloadError(f"command result of {len(payload)} bytes exceeds {MAX_COMMAND_RESULT_BYTES}")
    _, result = _validated(CommandResultIn, "command result", payload, limits)
    return CommandResult(result.id, payload)


def _validated(
    schema: type[Model], what: str, payload: bytes, limits: Limits
) -> tuple[dict[str, Any], Model]:
    """The payload's JSON object and the schema's reading of it, or a PayloadError saying what is wrong."""
    doc = decode_json(payload, limits)
    if not isinstance(doc, dict):
        raise PayloadError(f"a {what} must be a JSON object")
    try:
        return doc, schema.model_validate(doc)
    except ValidationError as e:
        err = e.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in err["loc"]) or "payload"
        raise PayloadError(f"invalid {what}: {where}: {err['msg']}") from None
