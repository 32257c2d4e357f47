"""Pure logic: time parsing, window choice, the token bucket, the event bus's fan-out."""

from __future__ import annotations

import asyncio
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.api.events import Event, EventBus
from ingest.api.ratelimit import RateLimiter
from ingest.api.timerange import parse_duration, parse_instant, resolve_range
from ingest.api.windows import NICE_WINDOWS_MS, window_count, window_for
from ingest.errors import QueryError
from ingest.points import Point

NOW = 1_764_000_000_123


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", NOW),
        ("-15m", NOW - 900_000),
        ("-24h", NOW - 86_400_000),
        ("-500ms", NOW - 500),
        ("-2w", NOW - 14 * 86_400_000),
        ("2025-11-24T16:00:00Z", 1_764_000_000_000),
        ("2025-11-24T16:00:00.123Z", 1_764_000_000_123),
        ("2025-11-24T17:00:00.123456789+01:00", 1_764_000_000_123),
        ("2025-11-24t16:00:00.9z", 1_764_000_000_900),
        ("1970-01-01T00:00:00Z", 0),
    ],
)
def test_instants(text: str, expected: int) -> None:
    assert parse_instant(text, NOW) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "yesterday",
        "-1y",
        "-0m",
        "-1.5h",
        "+1h",
        "2025-11-24",
        "2025-11-24T16:00:00",
        "1764000000000",
        "2025-13-01T00:00:00Z",
        "1969-12-31T23:59:59Z",
        "-1h; DROP",
        "-1m\n",
        "2025-11-24T16:00:00Z\n",
        "٢٠٢٥-11-24T16:00:00Z",
        " now",
    ],
)
def test_bad_instants_are_query_errors(text: str) -> None:
    with pytest.raises(QueryError):
        parse_instant(text, NOW)


def test_durations_and_ranges() -> None:
    assert [parse_duration(t) for t in ("1ms", "1s", "1m", "1h", "1d", "1w")] == [
        1,
        1000,
        60_000,
        3_600_000,
        86_400_000,
        604_800_000,
    ]
    for bad in ("0s", "1", "m", "1M", "1.5m", "-1m", "9999999999s"):
        with pytest.raises(QueryError):
            parse_duration(bad)
    assert resolve_range("-1h", "now", NOW) == (NOW - 3_600_000, NOW)
    with pytest.raises(QueryError):
        resolve_range("now", "-1h", NOW)


def test_window_count_counts_windows_touched() -> None:
    assert window_count(0, 60_000, 60_000) == 1
    assert window_count(1, 60_001, 60_000) == 2
    assert window_count(59_999, 60_001, 60_000) == 2


@given(
    start=st.integers(0, 4_000_000_000_000),
    span=st.integers(1, 100 * 365 * 86_400_000),
    max_points=st.integers(2, 100_000),
)
def test_window_for_is_the_shortest_round_window_that_fits(start: int, span: int, max_points: int) -> None:
    every = window_for(start, start + span, max_points)
    assert window_count(start, start + span, every) <= max_points
    shorter = [w for w in NICE_WINDOWS_MS if w < every]
    assert all(window_count(start, start + span, w) > max_points for w in shorter)


def test_token_bucket_allows_bursts_then_the_rate() -> None:
    now = [0.0]
    limiter = RateLimiter(rate=2.0, burst=3, clock=lambda: now[0])
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("a") == pytest.approx(0.5)
    assert limiter.take("b") == 0.0
    now[0] = 0.5
    assert limiter.take("a") == 0.0
    assert limiter.take("a") == pytest.approx(0.5)
    now[0] = 100.0
    assert [limiter.take("a") for _ in range(4)][-1] > 0  # never more than the burst at once


def test_event_bus_fans_out_across_threads_filters_and_drops_oldest_for_slow_readers() -> None:
    bus = EventBus(queue_size=3)

    async def scenario() -> None:
        everything, only_two = bus.subscribe(), bus.subscribe("dev-2")

        def publish() -> None:
            for i in range(6):
                device = f"dev-{i % 2 + 1}"
                bus.publish_readings(device, [Point(device, i, {"v": float(i), "seq": i})])

        publisher = threading.Thread(target=publish)
        publisher.start()
        publisher.join()
        await asyncio.sleep(0.05)
        got = [(await everything.get(1)) for _ in range(3)]
        assert [e.data["ts"] for e in got if e] == [3, 4, 5] and everything.dropped == 3
        two = [(await only_two.get(1)) for _ in range(3)]
        assert [e.device for e in two if e] == ["dev-2"] * 3
        assert two[0] is not None and two[0].data == {"device": "dev-2", "ts": 1, "values": {"v": 1.0}}
        assert await everything.get(0.05) is None
        bus.unsubscribe(everything)
        bus.unsubscribe(only_two)
        assert bus.subscribers == 0

    asyncio.run(scenario())


def test_event_bus_listeners_get_only_their_kind() -> None:
    bus = EventBus()
    readings: list[Event] = []
    results: list[Event] = []
    bus.listen("reading", readings.append)
    bus.listen("command_result", results.append)
    bus.publish_readings("dev-1", [Point("dev-1", 5, {"v": 1.5, "seq": 9}), Point("dev-1", 6, {"v": 2.5})])
    bus.publish_status("dev-1", {"online": True})
    bus.publish_command_result("dev-1", {"id": "c1", "ok": True})
    assert [e.data for e in readings] == [
        {"device": "dev-1", "ts": 5, "values": {"v": 1.5}},
        {"device": "dev-1", "ts": 6, "values": {"v": 2.5}},
    ]
    assert [e.data for e in results] == [{"id": "c1", "ok": True, "device": "dev-1"}]
