"""Alert rules as data (design.md §12): a name, which devices, a condition, how long it must hold
(`for`), a severity and where to send notifications. Checked here, once, for the CLI and the API alike.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, HttpUrl, field_validator, model_validator

from ingest.contract import DEVICE_ID, METRIC_NAME, is_metric_name
from ingest.durations import parse_duration

RULE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MAX_WEBHOOKS = 8
MAX_DURATION_S = 30 * 86400


def _duration(text: str | float) -> float:
    return parse_duration(text, MAX_DURATION_S)


Duration = Annotated[float, BeforeValidator(_duration), Field(ge=0, le=MAX_DURATION_S)]
"""Seconds, given as a number or as text like `3s` or `5m`."""


class _Strict(BaseModel):
    # No NaN or infinity: a limit that compares false with everything would never fire.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Selector(_Strict):
    """Which devices: one or more ids, the devices with a tag, or all. Ingest-health rules take none."""

    devices: tuple[str, ...] = ()
    tag: tuple[str, str] | None = None
    all: bool = False

    @field_validator("devices")
    @classmethod
    def _ids(cls, ids: tuple[str, ...]) -> tuple[str, ...]:
        for device in ids:
            if not DEVICE_ID.fullmatch(device):
                raise ValueError(f"{device[:80]!r} is not a device id")
        return ids

    @field_validator("tag")
    @classmethod
    def _tag(cls, tag: tuple[str, str] | None) -> tuple[str, str] | None:
        if tag is not None and (not METRIC_NAME.fullmatch(tag[0]) or not 0 < len(tag[1]) <= 64):
            raise ValueError("a tag selector is key=value, the key named like a metric")
        return tag

    @model_validator(mode="after")
    def _one(self) -> Selector:
        if sum((bool(self.devices), self.tag is not None, self.all)) > 1:
            raise ValueError("select devices by id, by tag or all: one of them")
        return self

    @property
    def empty(self) -> bool:
        return not self.devices and self.tag is None and not self.all

    def matches(self, device: str, tags: dict[str, str]) -> bool:
        if self.all:
            return True
        if self.tag is not None:
            return tags.get(self.tag[0]) == self.tag[1]
        return device in self.devices


class Threshold(_Strict):
    """A metric above or below a value; once true, false again only past `hysteresis` the other way."""

    kind: Literal["threshold"] = "threshold"
    metric: str
    above: float | None = None
    below: float | None = None
    hysteresis: float = Field(0.0, ge=0)

    @model_validator(mode="after")
    def _one(self) -> Threshold:
        if (self.above is None) == (self.below is None):
            raise ValueError("a threshold is --above or --below a value, one of them")
        return self


class Rate(_Strict):
    """A metric changing faster than `per_s` (either way) between two readings of a device."""

    kind: Literal["rate"] = "rate"
    metric: str
    per_s: float = Field(gt=0)


class NoReadings(_Strict):
    """No telemetry from a device for `after_s`, or for two of the sampling intervals its status
    announces when that is longer."""

    kind: Literal["no_readings"] = "no_readings"
    after_s: Duration = Field(gt=0)


class Missing(_Strict):
    """More than `over` readings the device numbered but never delivered (its completeness gap)."""

    kind: Literal["missing"] = "missing"
    over: int = Field(ge=0)


class BoardLoss(_Strict):
    """The board reports readings it had to drop (`dropped` > 0), or its outbox grew since its last
    status (with `for`: kept growing that long)."""

    kind: Literal["board_loss"] = "board_loss"
    outbox_growing: bool = False


class Offline(_Strict):
    kind: Literal["offline"] = "offline"


class IngestHealth(_Strict):
    """The ingest's own health: the spool over `spool_over_pct` of its limit, a batch held unstored, or
    more than `dead_letters_over` new dead letters in a minute."""

    kind: Literal["ingest"] = "ingest"
    spool_over_pct: float | None = Field(None, gt=0, le=100)
    writer_held: bool = False
    dead_letters_over: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _some(self) -> IngestHealth:
        if self.spool_over_pct is None and not self.writer_held and self.dead_letters_over is None:
            raise ValueError("an ingest-health rule watches the spool, the writer or dead letters")
        return self


Condition = Annotated[
    Threshold | Rate | NoReadings | Missing | BoardLoss | Offline | IngestHealth, Field(discriminator="kind")
]
SEVERITIES = ("info", "warning", "critical")


class Rule(_Strict):
    name: str
    selector: Selector = Selector()
    condition: Condition
    for_s: Duration = 0.0
    severity: Literal["info", "warning", "critical"] = "warning"
    webhooks: tuple[HttpUrl, ...] = Field((), max_length=MAX_WEBHOOKS)

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        if not RULE_NAME.fullmatch(name):
            raise ValueError("a rule name is 1-64 letters, digits, '_', '.' or '-'")
        return name

    @field_validator("webhooks")
    @classmethod
    def _http(cls, urls: tuple[HttpUrl, ...]) -> tuple[HttpUrl, ...]:
        for url in urls:
            if url.scheme not in ("http", "https"):
                raise ValueError(f"a webhook is an http(s) URL, not {url.scheme}:")
        return urls

    @model_validator(mode="after")
    def _fits(self) -> Rule:
        metric = getattr(self.condition, "metric", None)
        if metric is not None and not is_metric_name(metric):
            raise ValueError(f"{metric[:80]!r} is not a metric name a device may send")
        on_ingest = isinstance(self.condition, IngestHealth)
        if on_ingest != self.selector.empty:
            raise ValueError(
                "an ingest-health rule selects no devices"
                if on_ingest
                else "select devices: --device ID, --tag k=v or --all"
            )
        return self

    @property
    def on_readings(self) -> bool:
        return isinstance(self.condition, Threshold | Rate)

    @property
    def on_status(self) -> bool:
        return isinstance(self.condition, BoardLoss | Offline)
