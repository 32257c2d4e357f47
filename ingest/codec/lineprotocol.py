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
from collections.abc import Iterable, Mapping

from ingest.errors import PayloadError
from ingest.points import Point

_MEASUREMENT = str.maketrans({",": r"\,", " ": r"\ "})
_KEY = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ "})
_STRING = str.maketrans({'"': r"\"", "\\": r"\\"})
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1
_FORBIDDEN = ("\n", "\r", "\t", "\x00")
_AMBIGUOUS_BACKSLASH = re.compile(r'\\([,= "\\]|$)')

FieldInput = float | int | bool | str


def _check_name(name: str, what: str) -> None:
    if not name:
        raise PayloadError(f"empty {what}")
    if any(c in name for c in _FORBIDDEN):
        raise PayloadError(f"{what} {name[:40]!r} contains a control character")
    if _AMBIGUOUS_BACKSLASH.search(name):
        raise PayloadError(f"{what} {name[:40]!r} has a backslash InfluxDB would read as an escape")


def escape_measurement(name: str) -> str:
    _check_name(name, "measurement")
    if name.startswith("#"):
        raise PayloadError("a measurement starting with '#' reads as a comment")
    return name.translate(_MEASUREMENT)


def escape_key(name: str, what: str = "key") -> str:
    """Tag key, tag value or field key."""
    _check_name(name, what)
    if name == "time" and what != "tag value":
        raise PayloadError(f"InfluxDB does not store a {what} named 'time'")
    return name.translate(_KEY)


def format_value(value: FieldInput) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise PayloadError(f"integer {value} does not fit in int64")
        return f"{value}i"
    if isinstance(value, float):
        if not math.isfinite(value):
            raise PayloadError(f"{value} cannot be stored")
        return repr(value)
    if any(c in value for c in _FORBIDDEN):
        raise PayloadError("string field contains a control character")
    return '"' + value.translate(_STRING) + '"'


def encode_line(
    measurement: str, tags: Mapping[str, str], fields: Mapping[str, FieldInput], ts_ms: int
) -> str:
    if not fields:
        raise PayloadError("a point needs at least one field")
    head = escape_measurement(measurement)
    for key in sorted(tags):  # sorted tags are what InfluxDB stores fastest
        head += f",{escape_key(key, 'tag key')}={escape_key(tags[key], 'tag value')}"
    body = ",".join(f"{escape_key(k, 'field key')}={format_value(v)}" for k, v in fields.items())
    return f"{head} {body} {ts_ms}"


def encode_points(measurement: str, static_tags: Mapping[str, str], points: Iterable[Point]) -> bytes:
    """One line per point with tag `device`; the body of a `/write?precision=ms` request."""
    lines = [encode_line(measurement, {**static_tags, "device": p.device}, p.fields, p.ts_ms) for p in points]
    return ("\n".join(lines)).encode()
