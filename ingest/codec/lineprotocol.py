"""InfluxDB line protocol: `measurement,tag=v field=1.5,n=3i,ok=true,s="x" 1764000000123` (ms precision).

Escaping follows the spec: measurement escapes `,` and space; tag keys, tag values and field keys
escape `,` `=` and space; string field values escape `"` and `\\`. What the protocol cannot carry
(newlines, NaN/Inf, empty names, integers beyond int64, a key named `time`, and a backslash in a
name that ends it or precedes one of `,= "\\`, which InfluxDB would read as an escape) is
rejected, never mangled, so what is written always reads back equal.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping

from ingest.errors import PayloadError
from ingest.points import Point

_MEASUREMENT = str.maketrans({",": r"\,", " ": r"\ "})
_KEY = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ "})
_STRING = str.maketrans({'"': r"\"", "\\": r"\\"})
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1
_CONTROL = re.compile(r"[\n\r\t\x00]")
_BAD_NAME = re.compile(r'[\n\r\t\x00]|\\([,= "\\]|$)')
_CACHE_LIMIT = 100_000

FieldInput = float | int | bool | str


def _check_name(name: str, what: str) -> None:
    if not name:
        raise PayloadError(f"empty {what}")
    bad = _BAD_NAME.search(name)
    if bad is not None:
        problem = (
            "a control character"
            if bad.group()[0] != "\\"
            else "a backslash InfluxDB would read as an escape"
        )
        raise PayloadError(f"{what} {name[:40]!r} contains {problem}")


def escape_measurement(name: str) -> str:
    _check_name(name, "measurement")
    if name.startswith("#"):
        raise PayloadError("a measurement starting with '#' reads as a comment")
    return name.translate(_MEASUREMENT)


_escaped: dict[tuple[str, str], str] = {}


def escape_key(name: str, what: str = "key") -> str:
    """Tag key, tag value or field key (memoised: the same few names come in every batch)."""
    found = _escaped.get((name, what))
    if found is not None:
        return found
    _check_name(name, what)
    if name == "time" and what != "tag value":
        raise PayloadError(f"InfluxDB does not store a {what} named 'time'")
    if len(_escaped) >= _CACHE_LIMIT:
        _escaped.clear()
    _escaped[(name, what)] = escaped = name.translate(_KEY)
    return escaped


def format_value(value: FieldInput) -> str:
    kind = type(value)
    if kind is float:
        if not math.isfinite(value):  # type: ignore[arg-type]
            raise PayloadError(f"{value} cannot be stored")
        return repr(value)
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        if not _INT64_MIN <= value <= _INT64_MAX:  # type: ignore[operator]
            raise PayloadError(f"integer {value} does not fit in int64")
        return f"{value}i"
    if kind is str:
        if _CONTROL.search(value):  # type: ignore[arg-type]
            raise PayloadError("string field contains a control character")
        return '"' + value.translate(_STRING) + '"'  # type: ignore[union-attr]
    raise PayloadError(f"cannot store a {kind.__name__}")


def _head(measurement: str, tags: Mapping[str, str]) -> str:
    head = escape_measurement(measurement)
    for key in sorted(tags):  # sorted tags are what InfluxDB stores fastest
        head += f",{escape_key(key, 'tag key')}={escape_key(tags[key], 'tag value')}"
    return head


TagsFor = Callable[[str], Mapping[str, str]]
"""device → its static tags (`site`, ...), added to each of its points beside `device`."""


def no_tags(device: str) -> Mapping[str, str]:
    return {}


def encode_points(measurement: str, tags_for: TagsFor, points: Iterable[Point]) -> bytes:
    """One line per point with tag `device` and the device's tags; the body of a `/write?precision=ms`
    request.

    The common cases (float and in-range integer fields) are formatted inline, the rest by
    `format_value`: this loop runs for every reading stored. `tags_for` is asked once per device."""
    heads: dict[str, str] = {}
    keys: dict[str, str] = {}
    lines = []
    for p in points:
        head = heads.get(p.device)
        if head is None:
            head = heads[p.device] = _head(measurement, {**tags_for(p.device), "device": p.device})
        if not p.fields:
            raise PayloadError("a point needs at least one field")
        parts = []
        for k, v in p.fields.items():
            key = keys.get(k)
            if key is None:
                key = keys[k] = escape_key(k, "field key") + "="
            kind = type(v)
            if kind is float and v - v == 0:
                parts.append(key + repr(v))
            elif kind is int and _INT64_MIN <= v <= _INT64_MAX:
                parts.append(f"{key}{v}i")
            else:
                parts.append(key + format_value(v))
        lines.append(f"{head} {','.join(parts)} {int(p.ts_ms)}")
    return "\n".join(lines).encode()
