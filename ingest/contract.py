"""The wire contract between boards, the ingest, the API and provisioning, in one place (design.md §2, §9).

Topics and subscriptions, the id/metric/prefix/name rules, the command operations and the settings
they may change, and every size bound that applies to what a device sends. The firmware keeps
MicroPython copies (`firmware/sensorfleet/topics.py`, `commands.py`, `config.py`) and the dashboard
its own (`dashboard/contract.js`); `tests/test_contract_copies.py` holds them to this module. The
patterns are anchored (`^…$`) because pydantic and the JSON schema read them as searches; Python code
uses them with `fullmatch` only, since `re`'s `$` also matches before a trailing newline.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from ingest.errors import PayloadError

TOPIC_PREFIX = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
DEVICE_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
METRIC_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.]{0,63}$")
COMMAND_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MQTT_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
"""The ingest's MQTT client id and its shared-subscription group."""

RESERVED_KEYS = frozenset({"ts", "age", "seq", "boot"})
"""Keys of a reading that are not metrics."""
RESERVED_METRICS = frozenset({"time", "device"})
"""InfluxDB's time column and the device tag: never a metric or a tag key."""
RESERVED_TAG_KEYS = RESERVED_METRICS | RESERVED_KEYS
"""A device's static tags are named like metrics (METRIC_NAME), but never like a column the pipeline
writes."""
MAX_TAG_VALUE_CHARS = 128

INT64_MAX = (1 << 63) - 1
"""Every integer a device sends that reaches storage (boot, seq + readings, counters) fits a signed 64-bit."""
MAX_READINGS_PER_BATCH = 10_000
MAX_METRICS_PER_READING = 64
MAX_METRICS_PER_DEVICE = 256
"""Defaults of the settings of the same names: distinct metric names a device may ever use."""
MAX_COMMAND_RESULT_BYTES = 4096
COMMAND_RESULTS_KEPT = 100
"""Per device, the newest; older results are deleted as new ones arrive."""
MAX_FW_CHARS = 64
MAX_RESET_CAUSE_CHARS = 32
MAX_STATUS_TEXT_CHARS = 200
"""A free-text status field (`error`) and a command result's `error`."""
FW_VERSION = re.compile(rf"^[A-Za-z0-9._+~-]{{1,{MAX_FW_CHARS}}}$")
SHORT_NAME = re.compile(rf"^[a-z0-9_-]{{1,{MAX_RESET_CAUSE_CHARS}}}$")
"""A short lower-case name a board reports: `hal`, `reset_cause`."""
STATUS_TEXT = re.compile(r"^[^\x00-\x08\x0b-\x1f\x7f]*$")
"""Free text (at most MAX_STATUS_TEXT_CHARS): no control characters but tab and newline."""

TopicKind = Literal["telemetry", "status", "cmd_result", "ota_req"]
DEVICE_PUBLISHES: dict[str, TopicKind] = {
    "telemetry": "telemetry",
    "status": "status",
    "cmd/result": "cmd_result",
    "ota/req": "ota_req",
}
"""Topic suffix under `<prefix>/<device>/` → what it carries (the last will goes to `status`)."""
SHARED_KINDS = ("telemetry", "ota/req")
"""Split across a share group: each message needs one process (the others reach every process)."""
COMMAND_SUFFIX = "cmd"
OTA_DATA_SUFFIX = "ota/data"
DEVICE_READS = (COMMAND_SUFFIX, OTA_DATA_SUFFIX)
"""What a device reads: its commands, and the firmware chunks it asked for."""

MAX_OTA_VERSION_CHARS = 32
"""A bundle's version: a `fw` string (FW_VERSION) a board can take in its update state (firmware's ota.py)."""
MAX_OTA_CHUNK = 1024
"""Bytes of firmware in one `ota/data` message (docs/protocol.md)."""
OTA_PATH = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)*$")
MAX_OTA_PATH_CHARS = 96
OTA_MANIFEST = "@manifest"
"""The name a board asks for the bundle's file list by (no file path starts with `@`)."""
BOOT_STUB = ("main.py", "safeboot.py", "safeswap.py")
"""The boot stub: on the board as source, never compiled, never in a bundle (the swap knows it by name)."""
OtaState = Literal["idle", "downloading", "staged", "trial", "rolled_back", "failed"]
"""A board's `ota` status."""

ALERTS_SUFFIX = "$alerts"
"""`<prefix>/$alerts`: the ingest publishes each alert transition there (no device id starts with `$`)."""


def alerts_topic(prefix: str) -> str:
    return f"{prefix}/{ALERTS_SUFFIX}"


OPERATOR_OPS = ("ping", "set", "flush", "reboot", "maint")
"""What an operator may send a board; `maint` restarts it into maintenance (its REPL free for USB work)."""
COMMAND_OPS = (*OPERATOR_OPS, "ota")
"""What a board runs: the operator's commands, and `ota`, which only a rollout sends (docs/ota.md)."""
MAX_COMMAND_ARGS_BYTES = 512
"""A command's `args` as JSON: what a board reads into its buffer."""


@dataclass(frozen=True)
class Settable:
    """A setting `set` may change: a number (`num`) or an integer (`int`) in [low, high]."""

    kind: Literal["num", "int"]
    low: float
    high: float


SETTABLE = {"interval_s": Settable("num", 0.001, 86_400), "batch_max": Settable("int", 1, 200)}
"""The settings a `set` command changes on a board, with the ranges its config accepts too."""


def device_topic(prefix: str, device: str, suffix: str) -> str:
    """`<prefix>/<device>/<suffix>`; `suffix` one of DEVICE_PUBLISHES or COMMAND_SUFFIX."""
    return f"{prefix}/{device}/{suffix}"


def ingest_subscriptions(prefix: str, share_group: str | None = None) -> list[str]:
    """What the ingest subscribes to. Telemetry and firmware chunk requests are split across a share
    group (one process stores a reading, one answers a request); statuses and command results reach
    every process, so each one's registry and API know every board's state and every answer to its
    commands."""
    share = f"$share/{share_group}/" if share_group else ""
    return [
        (share if suffix in SHARED_KINDS else "") + device_topic(prefix, "+", suffix)
        for suffix in DEVICE_PUBLISHES
    ]


def parse_topic(prefix: str, topic: str) -> tuple[str, TopicKind]:
    """`<prefix>/<device>/<suffix>` → (device, kind), the device id held to the contract; or PayloadError."""
    head, sep, rest = topic.partition("/")
    if head != prefix or not sep:
        raise PayloadError(f"topic {topic[:200]!r} is not under prefix {prefix!r}")
    device, sep, suffix = rest.partition("/")
    if not sep or suffix not in DEVICE_PUBLISHES:
        raise PayloadError(f"topic {topic[:200]!r} is not a device topic")
    if not DEVICE_ID.fullmatch(device):
        raise PayloadError(f"device id {device[:80]!r} in topic is invalid")
    return device, DEVICE_PUBLISHES[suffix]


def device_in_topic(topic: str) -> str | None:
    """The device a topic names, whatever its prefix and suffix: its second level when that is a valid
    device id (`<prefix>/<device>/...`, or `spool/<device>` for a point the store refused from the
    spool); None otherwise. For showing and filtering dead letters, whose topics may be anything."""
    parts = topic.split("/", 2)
    if len(parts) < 2 or not parts[0]:
        return None
    return parts[1] if DEVICE_ID.fullmatch(parts[1]) else None


def is_metric_name(text: str) -> bool:
    return METRIC_NAME.fullmatch(text) is not None and text not in RESERVED_METRICS
