"""Applying routed work: its points to the store, its statuses, command results and counts to the
registry; and, when that raises, finding the messages that fail alone. The writer runs this for live
messages, a replay (`ingest.pipeline.replay`) for dead letters: both store and count a message alike.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ingest.errors import PermanentStoreError, is_outage
from ingest.metrics import Metrics
from ingest.pipeline.work import CommandAnswer, Readings, StatusReport, Work
from ingest.points import Point
from ingest.registry import Registry

WritePoints = Callable[[Sequence[Point]], None]


def apply(works: Sequence[Work], write: WritePoints, registry: Registry, metrics: Metrics) -> None:
    """Writes the readings' points with `write`, then records statuses, command results and counts.

    Every step is idempotent (points overwrite themselves, statuses and command results are upserts,
    the registry's counts change only when their transaction commits and count a (boot, seq) once),
    so applying the same work again stores and counts nothing twice."""
    readings = [w for w in works if isinstance(w, Readings)]
    if readings:
        write([p for w in readings for p in w.telemetry.points])
    for w in works:
        m = w.message
        match w:
            case StatusReport(device=device, status=status):
                registry.set_status(device, status, m.received_ms, m.retained)
            case CommandAnswer(device=device, command_id=command_id):
                registry.record_command_result(device, command_id, m.payload, m.received_ms)
    duplicates = registry.record((w.telemetry, w.message.received_ms) for w in readings)
    if duplicates:
        metrics.add("duplicates", duplicates)


def isolate(run: Callable[[list[Work]], None], works: list[Work]) -> list[tuple[Work, Exception]]:
    """Runs `works`; if that raises for a reason other than an outage (which is raised), halves them
    until each message that fails alone is found, and returns those with what they raised."""
    if not works:
        return []
    try:
        run(works)
        return []
    except Exception as e:
        if is_outage(e):
            raise
        if len(works) == 1:
            return [(works[0], e)]
    half = len(works) // 2
    return isolate(run, works[:half]) + isolate(run, works[half:])


def reason(e: BaseException) -> str:
    """A dead letter's reason: the store's own words for what it refused, the exception's otherwise."""
    text = str(e) if isinstance(e, PermanentStoreError) else f"{type(e).__name__}: {e}"
    return text[:500]
