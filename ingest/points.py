"""What flows from the codec to the stores: one point per reading, keyed by (device, ts_ms)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

FieldValue = float | bool | int
"""Metrics are float or bool; `seq` and `boot` are the only integer fields."""


class Point(NamedTuple):
    """Immutable; a named tuple because one is built for every reading received, at half the cost of a
    frozen dataclass."""

    device: str
    ts_ms: int
    fields: Mapping[str, FieldValue]
