"""Request and response bodies of the API, named by direction (`...In` is sent to us, `...Out` by us)."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ingest.contract import COMMAND_ID, DEVICE_ID, MAX_COMMAND_ARGS_BYTES, OPERATOR_OPS
from ingest.storage.base import Agg

PREVIEW_CHARS = 1000
MAX_ID = 2**63 - 1
"""Ids and times are signed 64-bit in the state database."""


class LatestOut(BaseModel):
    device: str
    ts: int | None = Field(description="epoch ms of the newest value; null when none is stored")
    values: dict[str, float | bool | int] = Field(description="the newest value of each metric")
    at: dict[str, int] = Field(description="epoch ms of each of those values")


class BootOut(BaseModel):
    boot: int
    received: int
    missing: list[tuple[int, int]] = Field(
        description="inclusive seq ranges never received, between the boot's newest 100 ranges received"
    )


class CompletenessOut(BaseModel):
    received: int = Field(description="readings received, duplicates included")
    missing: int = Field(description="readings numbered (boot, seq) but never received")
    duplicates: int = Field(description="readings received more than once")
    boots: list[BootOut] = Field(description="per boot of the board, the most recent ones")


class DeviceOut(BaseModel):
    id: str
    online: bool | None
    last_seen: int | None = Field(description="epoch ms of the last message from the device")
    fw: str | None
    rssi: float | None
    status: dict[str, Any] = Field(description="the device's last status message")
    tags: dict[str, str] = Field(
        description="static tags from the registry, stored on each of its InfluxDB points",
        examples=[{"site": "greenhouse-2"}],
    )
    latest: LatestOut
    completeness: CompletenessOut


class DevicesOut(BaseModel):
    devices: list[DeviceOut]
    next: str | None = Field(None, description="pass as `after` for the next page; null on the last one")
    total: int = Field(description="how many devices there are (the whole fleet), on every page")


class StatusChangeOut(BaseModel):
    at: int = Field(description="epoch ms when the ingest received the status")
    online: bool
    fw: str | None = Field(description="the firmware version after the change")
    boot: int | None = Field(description="the board's boot count after the change")
    changed: list[Literal["online", "boot", "fw"]] = Field(description="what differs from the state before")
    retained: bool = Field(
        description="learned from the broker's retained copy when the ingest (re)connected: "
        "the change happened at or before `at`"
    )


class StatusHistoryOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "device": "dev-1",
                "changes": [
                    {
                        "at": 1764000060000,
                        "online": True,
                        "fw": "0.3.1",
                        "boot": 5,
                        "changed": ["online", "boot"],
                        "retained": False,
                    },
                    {
                        "at": 1764000000000,
                        "online": False,
                        "fw": "0.3.1",
                        "boot": 4,
                        "changed": ["online"],
                        "retained": False,
                    },
                ],
            }
        }
    )

    device: str
    changes: list[StatusChangeOut] = Field(description="newest first")


class SeriesOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "device": "dev-1",
                "metric": "temperature",
                "agg": "mean",
                "every_ms": 60000,
                "start_ms": 1764000000000,
                "end_ms": 1764086400000,
                "points": [[1764000000000, 21.4], [1764000060000, 21.5]],
                "truncated": False,
            }
        }
    )

    device: str
    metric: str
    agg: Agg
    every_ms: int = Field(description="the window actually used, in ms")
    start_ms: int
    end_ms: int = Field(description="end of the range answered; before the end asked for when truncated")
    points: list[tuple[int, float | bool | int]] = Field(description="[window start ms, value], oldest first")
    truncated: bool = Field(description="true when the range held more windows than one response carries")


class SeriesListOut(BaseModel):
    series: list[SeriesOut] = Field(description="one entry per `metric`, in the order asked")


class CommandIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"example": {"op": "set", "args": {"interval_s": 30}}}
    )

    op: str = Field(
        pattern=f"^({'|'.join(OPERATOR_OPS)})$",
        description=f"{', '.join(OPERATOR_OPS)} (maint: restart into maintenance for USB work; firmware "
        "updates go by rollouts)",
    )
    args: dict[str, Any] = Field(default_factory=dict, max_length=32)
    id: str | None = Field(
        None, pattern=COMMAND_ID.pattern, description="your id, to make a retry idempotent"
    )

    @field_validator("args")
    @classmethod
    def _small_json(cls, args: dict[str, Any]) -> dict[str, Any]:
        # What a board can parse: plain JSON (no integers beyond 64 bits, no NaN or infinity, which
        # Python's parser takes and orjson would send as null) in a small buffer.
        try:
            json.dumps(args, allow_nan=False)
            size = len(orjson.dumps(args))
        except (TypeError, ValueError) as e:
            raise ValueError(f"args cannot be sent as JSON: {e}") from None
        if size > (most := MAX_COMMAND_ARGS_BYTES):
            raise ValueError(f"args take {size} bytes as JSON; a board accepts at most {most}")
        return args


class CommandOut(BaseModel):
    id: str
    device: str
    op: str | None = Field(description="null for a result whose command this process did not send")
    args: dict[str, Any]
    status: str = Field(description="pending, ok, error or timeout")
    result: Any = None
    error: str | None = None
    sent_at: float | None = Field(description="epoch seconds")


class DeadLetterNoteOut(BaseModel):
    """A dead letter without its payload (what a read token may see)."""

    id: int
    reason: str = Field(description="why it could not be stored (device-supplied text may be quoted in it)")
    device: str | None = Field(description="the device its topic names; null when the topic names none")
    received: int = Field(description="epoch ms when the ingest received it")
    topic: str
    size: int = Field(description="bytes of payload that arrived")


class DeadLetterOut(DeadLetterNoteOut):
    payload: str = Field(description="the payload as kept (at most 64 KiB of it), base64")
    truncated: bool = Field(description="true when only the first 64 KiB of the payload were kept")
    preview: str | None = Field(
        description=f"the start of the payload as text (at most {PREVIEW_CHARS} characters) when it is "
        "valid UTF-8; null otherwise. Device-supplied: render it as text, never as markup"
    )


class DeadLettersOut(BaseModel):
    letters: list[DeadLetterOut] = Field(description="newest first")
    next: int | None = Field(None, description="pass as `before` for the next page; null on the last one")


class DeviceLettersOut(BaseModel):
    device: str
    count: int


class DeadLetterSummaryOut(BaseModel):
    total: int = Field(description="dead letters kept (of `device` when asked for one)")
    newest: list[DeadLetterNoteOut] = Field(description="the newest of them, newest first")
    devices: list[DeviceLettersOut] = Field(description="letters per device that has any, in id order")
    next: str | None = Field(None, description="pass as `after` for the next page of `devices`")


class DeadLetterSelectionIn(BaseModel):
    """Which dead letters: `all`, or those with `ids` and/or matching the filters (every one given)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {"ids": [41, 42]}})

    all: bool = Field(False, description="every letter; no other field may be given with it")
    ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] | None = Field(None, min_length=1, max_length=1000)
    device: str | None = Field(None, pattern=DEVICE_ID.pattern)
    reason: str | None = Field(None, min_length=1, max_length=200, description="contained in the reason")
    before: int | None = Field(None, ge=0, le=MAX_ID, description="received before this epoch ms")

    @model_validator(mode="after")
    def _says_which(self) -> DeadLetterSelectionIn:
        filters = (self.ids, self.device, self.reason, self.before)
        given = [f for f in filters if f is not None]
        if self.all and given:
            raise ValueError("give `all` alone, or ids and filters without it")
        if not self.all and not given:
            raise ValueError("say which letters: `ids`, a filter (`device`, `reason`, `before`) or `all`")
        return self


class ReplayFailureOut(BaseModel):
    id: int
    reason: str = Field(description="why it fails today; the letter stays, with this reason")


class ReplayOut(BaseModel):
    stored: list[int] = Field(description="letters that passed: stored, counted and removed")
    failed: list[ReplayFailureOut]
    skipped: list[int] = Field(description="letters kept only in part (over 64 KiB): not replayable")


class PurgeOut(BaseModel):
    deleted: int


class RulesOut(BaseModel):
    rules: list[dict[str, Any]] = Field(description="each rule as `POST /api/v1/alert-rules` takes it")


class WebhookTryOut(BaseModel):
    results: dict[str, str | None] = Field(
        description="each webhook → null when it took the test, else the error"
    )


class NotificationOut(BaseModel):
    target: str = Field(description="a webhook (only scheme and host for a read token) or `mqtt`")
    transition: Literal["firing", "resolved"]
    state: Literal["waiting", "delivered", "failed"] = Field(
        description="waiting (or being retried with backoff), delivered, or given up"
    )
    attempts: int = Field(description="tries that failed (0 when the first one was delivered)")
    delivered: int | None
    last_error: str | None


class AlertOut(BaseModel):
    id: int
    rule: str
    device: str = Field(description="the device, or `ingest:<client id>` for the ingest's own health")
    state: Literal["pending", "firing", "resolved", "removed"]
    started: int
    fired: int | None
    resolved: int | None
    value: dict[str, Any] = Field(description="what the condition saw last")
    notifications: list[NotificationOut]


class AlertsOut(BaseModel):
    alerts: list[AlertOut]
    next: int | None


class BundleOut(BaseModel):
    version: str
    sha256: str = Field(
        description="the bundle's hash (docs/protocol.md), named in each board's `ota` command"
    )
    size: int = Field(description="bytes of all its files")
    files: int
    created: int = Field(description="epoch ms")


class FirmwareOut(BaseModel):
    bundles: list[BundleOut]
    fleet: dict[str, int] = Field(description="how many known devices report each firmware version")


class BundleIn(BaseModel):
    """An uploaded bundle: the app's files (never the boot stub or config.json), base64, and optionally
    the manifest built with them, which must then describe exactly these files."""

    model_config = ConfigDict(extra="forbid")

    version: str = Field(examples=["0.2.0"])
    files: dict[str, str] = Field(description="path on the board → the file's bytes, base64")
    manifest: dict[str, Any] | None = None


class RolloutIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str
    devices: list[Annotated[str, Field(pattern=DEVICE_ID.pattern)]] = Field(default=[], max_length=10_000)
    tag: Annotated[str, Field(pattern=r"^[^=]+=.*$", max_length=200)] | None = Field(
        None, description="key=value: the devices with this tag"
    )
    all: bool = Field(False, description="every known device")
    canary: int = Field(1, ge=0, le=100_000, description="devices updated first, alone")
    wave: Annotated[str, Field(pattern=r"^\d{1,6}%?$")] = Field("10%", description="a count or a percentage")
    health_s: int = Field(300, ge=1, le=7 * 86_400, description="seconds a switched board has to be healthy")


class RolloutOut(BaseModel):
    id: int
    version: str
    target: str
    canary: int
    wave: str
    health_s: int
    state: Literal["running", "halted", "done"]
    reason: str | None = Field(description="why it halted")
    created: int
    updated: int
    counts: dict[str, int] = Field(default={}, description="devices in each state")


class RolloutsOut(BaseModel):
    rollouts: list[RolloutOut]


class RolloutBoardOut(BaseModel):
    online: bool
    fw: str | None
    ota: str | None
    ota_v: str | None
    reason: str | None


class RolloutDeviceOut(BaseModel):
    device: str
    wave: int = Field(description="0 is the canary")
    state: str = Field(
        description="pending, offered, updating, trial, healthy, rolled_back, failed, timeout or skipped"
    )
    offers: int
    offered: int | None
    done: int | None
    reason: str | None
    board: RolloutBoardOut | None = Field(description="what the board's newest status says")


class RolloutDetailOut(RolloutOut):
    devices: list[RolloutDeviceOut]
