"""What the API tests share: the API's fixed clock, auth headers, and aggregates computed in plain Python
over raw points (what every store's answer is checked against)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

NOW_MS = 1_764_000_000_000
"""The API's clock in these tests: relative times (`-1h`) resolve against it."""


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def iso(ms: int) -> str:
    """RFC 3339 with milliseconds, UTC."""
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


Raw = list[tuple[int, float]]


def aggregate(points: Raw, start_ms: int, end_ms: int, agg: str, every_ms: int) -> list[list[float]]:
    windows: dict[int, list[tuple[int, float]]] = defaultdict(list)
    for ts, value in points:
        if start_ms <= ts < end_ms:
            windows[ts // every_ms * every_ms].append((ts, value))
    out = []
    for start in sorted(windows):
        values = [v for _, v in windows[start]]
        if agg == "mean":
            result = sum(values) / len(values)
        elif agg == "min":
            result = min(values)
        elif agg == "max":
            result = max(values)
        elif agg == "sum":
            result = sum(values)
        elif agg == "count":
            result = len(values)
        else:
            result = max(windows[start])[1]
        out.append([start, result])
    return out
