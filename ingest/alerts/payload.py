"""A notification's body, shaped like Alertmanager's webhook (version 4) so that its receivers
(chat bridges, incident tools, `alertmanager-webhook-logger`) take ours unchanged."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import orjson

from ingest.alerts.rules import Rule
from ingest.contract import DEVICE_ID

_ZERO_TIME = "0001-01-01T00:00:00Z"  # Alertmanager's "not ended yet"


def _iso(ms: int | None) -> str:
    if ms is None:
        return _ZERO_TIME
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def summary(rule: Rule, device: str, value: dict[str, Any]) -> str:
    c = rule.condition
    who = device or "the ingest"
    match c.kind:
        case "threshold":
            side, limit = ("above", c.above) if c.above is not None else ("below", c.below)
            return f"{who}: {c.metric} = {value.get('value')} is {side} {limit}"
        case "rate":
            return f"{who}: {c.metric} changes {value.get('per_s')}/s, more than {c.per_s}/s"
        case "no_readings":
            return f"{who}: no readings for {value.get('silent_s')} s"
        case "missing":
            return f"{who}: {value.get('missing')} readings missing"
        case "board_loss":
            return (
                f"{who}: the board dropped {value.get('dropped', 0)} readings; outbox {value.get('outbox')}"
            )
        case "offline":
            return f"{who}: offline"
    return f"{who}: {value.get('problem', 'unhealthy')}"


def body(
    rule: Rule,
    device: str,
    status: str,
    started_ms: int,
    ended_ms: int | None,
    value: dict[str, Any],
    external_url: str,
) -> bytes:
    labels = {"alertname": rule.name, "severity": rule.severity, "device": device}
    if not device:
        labels.pop("device")
    fingerprint = hashlib.sha256(f"{rule.name}/{device}".encode()).hexdigest()[:16]
    annotations = {"summary": summary(rule, device, value), "value": orjson.dumps(value).decode()}
    alert = {
        "status": status,
        "labels": labels,
        "annotations": annotations,
        "startsAt": _iso(started_ms),
        "endsAt": _iso(ended_ms),
        "generatorURL": f"{external_url}/#/device/{device}" if DEVICE_ID.fullmatch(device) else external_url,
        "fingerprint": fingerprint,
    }
    return orjson.dumps(
        {
            "version": "4",
            "groupKey": f"{{}}:{{alertname={rule.name!r}}}",
            "truncatedAlerts": 0,
            "status": status,
            "receiver": "sensorfleet",
            "groupLabels": {"alertname": rule.name},
            "commonLabels": labels,
            "commonAnnotations": annotations,
            "externalURL": external_url,
            "alerts": [alert],
        }
    )
