"""Turns each received MQTT message into writer work: decoded telemetry, status, command result, or a reject.

Runs on the MQTT network thread, so it does no I/O; anything that goes wrong with one message is
caught here and becomes a dead letter, never an exception in the client loop.
"""

from __future__ import annotations

import logging

from ingest.codec.payload import Limits, decode_command_result, decode_status, decode_telemetry
from ingest.contract import parse_topic
from ingest.errors import PayloadError
from ingest.metrics import Metrics
from ingest.pipeline.work import (
    ChunkRequest,
    CommandAnswer,
    Message,
    Readings,
    Rejected,
    StatusReport,
    Work,
)
from ingest.registry import Registry

log = logging.getLogger(__name__)


class Router:
    def __init__(self, prefix: str, limits: Limits, registry: Registry, metrics: Metrics):
        self.prefix, self.limits, self.registry, self.metrics = prefix, limits, registry, metrics

    def route(self, message: Message) -> Work:
        self.metrics.add("messages_received")
        try:
            return self._decode(message)
        except PayloadError as e:
            return Rejected(message, str(e))
        except Exception as e:  # a bug must cost one message, never the intake
            log.exception("unexpected error decoding a message on %s", message.topic[:200])
            return Rejected(message, f"internal error: {e!r}"[:500])

    def _decode(self, message: Message) -> Work:
        device, kind = parse_topic(self.prefix, message.topic)
        if not self.registry.accepts(device):
            raise PayloadError(f"device {device!r} is not registered (strict mode)")
        if kind == "telemetry":
            telemetry = decode_telemetry(device, message.payload, message.received_ms, self.limits)
            over = self.registry.claim_metrics(device, telemetry.names())
            if over:
                raise PayloadError(
                    f"device {device!r} would use more than {self.registry.max_metrics} metric names "
                    f"(new: {', '.join(sorted(over)[:5])}{', …' if len(over) > 5 else ''})"
                )
            self.metrics.add("readings_received", len(telemetry.points))
            return Readings(message, telemetry)
        if kind == "ota_req":
            return ChunkRequest(message, device)
        if kind == "status":
            if not message.payload:
                raise PayloadError("empty status (a cleared retained message)")
            status = decode_status(message.payload, self.limits)
            if status.dropped_keys:
                self.metrics.add("status_keys_dropped", status.dropped_keys)
            return StatusReport(message, device, status)
        result = decode_command_result(message.payload, self.limits)
        return CommandAnswer(message, device, result.id)
