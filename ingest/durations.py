"""Durations as people type them: `500ms`, `30s`, `5m`, `1.5h`, `2d`, or a number of seconds."""

from __future__ import annotations

import math
import re

_DURATION = re.compile(r"^(\d{1,9}(?:\.\d{1,6})?)(ms|s|m|h|d)?$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str | float, max_s: float = math.inf) -> float:
    """Seconds; ValueError for anything else, or past `max_s`."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        seconds = float(text)
    else:
        match = _DURATION.fullmatch(str(text).strip())
        if not match:
            raise ValueError(f"{str(text)[:40]!r} is not a duration (e.g. 30s, 5m, 1h)")
        seconds = float(match[1]) * _UNIT_S[match[2] or "s"]
    if not 0 <= seconds <= max_s:
        raise ValueError(f"a duration is between 0 and {max_s // 86400:.0f} days")
    return seconds
