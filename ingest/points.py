"""What flows from the codec to the stores: one point per reading, keyed by (device, ts_ms)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

FieldValue = float | bool | int
"""Metrics are float or bool; `seq` and `boot` are the only integer fields."""


@dataclass(frozen=True, slots=True)
class Point:
    device: str
    ts_ms: int
    fields: Mapping[str, FieldValue]
