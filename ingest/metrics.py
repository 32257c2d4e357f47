"""Counters, gauges and the write-latency histogram, rendered as Prometheus text (no client library)."""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

COUNTERS = {
    "messages_received": "MQTT messages received",
    "readings_received": "readings decoded from telemetry",
    "points_written": "points the store acknowledged (directly or replayed from the spool)",
    "points_spooled": "points appended to the on-disk spool while the store was unavailable",
    "dead_letters": "messages dead-lettered (never storable)",
    "duplicates": "readings received again (same device, boot and seq)",
    "messages_acked": "messages acknowledged to the broker",
    "write_errors": "failed write attempts to the store",
    "status_keys_dropped": "status keys outside the schema, left out of the stored status",
    "isolated_failures": "messages dead-lettered because processing them raised after decode",
    "dead_letters_replayed": "dead letters replayed that passed: stored, counted and removed",
    "alert_transitions": "alerts this process started, fired or resolved",
    "alert_evaluations_dropped": "messages not evaluated for alerts because the evaluation queue was full",
    "alert_evaluation_errors": "alert evaluations that failed (the state store unavailable, or a bug)",
    "alert_notifications_sent": "alert notifications this process delivered",
    "alert_notifications_failed": "alert notification attempts that failed (each is retried with backoff)",
    "ota_offers": "firmware updates offered to boards (ota commands this process sent)",
    "ota_chunks_sent": "firmware chunk requests this process answered with bytes",
    "ota_requests_refused": "firmware chunk requests refused (not offered, unknown file, malformed)",
    "ota_requests_dropped": "firmware chunk requests dropped because the chunk server's queue was full",
    "ota_requests_failed": "firmware chunk requests that failed (the state store unavailable, or a bug)",
    "rollouts_halted": "rollouts this process halted (a board rolled back, failed or timed out)",
}


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters = dict.fromkeys(COUNTERS, 0)
        self._latency_counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self._latency_sum = 0.0
        self.gauges: dict[str, tuple[str, Callable[[], float]]] = {}
        """name → (help, read function); read at scrape time."""

    def add(self, name: str, value: int = 1) -> None:
        with self._lock:
            self._counters[name] += value

    def get(self, name: str) -> int:
        with self._lock:
            return self._counters[name]

    def observe_write(self, seconds: float) -> None:
        with self._lock:
            self._latency_counts[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
            self._latency_sum += seconds

    def gauge(self, name: str, help_text: str, read: Callable[[], float]) -> None:
        self.gauges[name] = (help_text, read)

    def render(self) -> str:
        with self._lock:
            counters = dict(self._counters)
            counts, total = list(self._latency_counts), self._latency_sum
        out: list[str] = []
        for name, value in counters.items():
            metric = f"sensorfleet_{name}_total"
            out += [f"# HELP {metric} {COUNTERS[name]}", f"# TYPE {metric} counter", f"{metric} {value}"]
        for name, (help_text, read) in self.gauges.items():
            metric = f"sensorfleet_{name}"
            out += [f"# HELP {metric} {help_text}", f"# TYPE {metric} gauge", f"{metric} {float(read())}"]
        metric = "sensorfleet_write_latency_seconds"
        out += [f"# HELP {metric} time to write one batch to the store", f"# TYPE {metric} histogram"]
        cumulative = 0
        for bound, count in zip((*LATENCY_BUCKETS, float("inf")), counts, strict=True):
            cumulative += count
            le = "+Inf" if bound == float("inf") else repr(bound)
            out.append(f'{metric}_bucket{{le="{le}"}} {cumulative}')
        out += [f"{metric}_sum {total}", f"{metric}_count {cumulative}"]
        return "\n".join(out) + "\n"
