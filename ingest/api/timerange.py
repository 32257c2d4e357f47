"""Instants and durations as the API accepts them: RFC 3339, `now`, or relative to now (`-24h`, `-15m`)."""

from __future__ import annotations

import re
from datetime import datetime

from ingest.errors import QueryError
from ingest.storage.base import check_range

_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_DURATION = re.compile(r"([0-9]{1,9})(ms|s|m|h|d|w)")
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})", re.ASCII)
_MAX_MS = 253402300799999  # 9999-12-31T23:59:59.999Z


def parse_duration(text: str) -> int:
    """`500ms`, `30s`, `1m`, `6h`, `7d`, `2w` → milliseconds (positive)."""
    match = _DURATION.fullmatch(text)
    if not match or int(match[1]) == 0:
        raise QueryError(f"invalid duration {text[:40]!r}: use a positive number and ms, s, m, h, d or w")
    return int(match[1]) * _UNIT_MS[match[2]]


def parse_instant(text: str, now_ms: int) -> int:
    """`now`, `-<duration>` (before now) or an RFC 3339 time with its offset → epoch milliseconds."""
    if text == "now":
        return now_ms
    if text.startswith("-"):
        return now_ms - parse_duration(text[1:])
    match = _RFC3339.fullmatch(text)
    if not match:
        raise QueryError(f"invalid time {text[:40]!r}: use RFC 3339 (2026-11-24T10:00:00Z), `now` or `-24h`")
    # fromisoformat reads at most microseconds and float seconds blur milliseconds: parse whole
    # seconds, and take the milliseconds from the digits (RFC 3339 allows any number; finer is dropped).
    fraction = match[1] or ""
    try:
        moment = datetime.fromisoformat((text.replace(fraction, "", 1) if fraction else text).upper())
    except ValueError:
        raise QueryError(f"invalid time {text[:40]!r}: not a calendar date") from None
    ms = int(moment.timestamp()) * 1000 + int((fraction[1:] + "000")[:3])
    if not 0 <= ms <= _MAX_MS:
        raise QueryError(f"time {text[:40]!r} is before 1970 or too far ahead")
    return ms


def resolve_range(start: str, end: str, now_ms: int) -> tuple[int, int]:
    start_ms, end_ms = parse_instant(start, now_ms), parse_instant(end, now_ms)
    if start_ms >= end_ms:
        raise QueryError(f"start ({start[:40]}) must be before end ({end[:40]})")
    check_range(start_ms, end_ms)
    return start_ms, end_ms
