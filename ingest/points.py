"""What flows from the codec to the stores: one point per reading, keyed by (device, ts_ms)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from itertools import repeat
from typing import NamedTuple

FieldValue = float | bool | int
"""Metrics are float or bool; `seq` and `boot` are the only integer fields."""


class Point(NamedTuple):
    """Immutable; a named tuple because one is built for every reading received, at half the cost of a
    frozen dataclass."""

    device: str
    ts_ms: int
    fields: Mapping[str, FieldValue]


def points_of(
    device: str, stamps: Iterable[int], fields: Iterable[Mapping[str, FieldValue]]
) -> Iterator[Point]:
    """The device's points, one per (stamp, fields) pair. Built by `tuple.__new__` in C: the named
    tuple's own constructor is a Python function, called for every reading of a batch."""
    return map(tuple.__new__, repeat(Point), zip(repeat(device), stamps, fields))
