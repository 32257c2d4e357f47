"""Replaying dead letters through today's pipeline, into a real InfluxDB 1.x, on both state databases:
readings dead-lettered for an old timestamp are stored once the window is widened, counted once, and
removed; a second replay stores nothing; two replays of one letter at once store it once; what still
fails stays with today's reason. And, for any bytes, a replay neither raises nor stores what the live
path would reject."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ingest.codec.payload import Telemetry
from ingest.deadletters import DeadLetter, DeadLetters, Selection
from ingest.metrics import Metrics
from ingest.pipeline.replay import STALE_STATUS, ReplayReport
from ingest.pipeline.router import Router
from ingest.pipeline.work import Message, Readings, Rejected
from ingest.points import Point
from ingest.registry import Registry
from ingest.service import IngestService, limits_of, offline_replayer
from ingest.settings import Settings, load_settings
from ingest.state.migrate import open_state
from ingest.storage.sqlite import SqliteStore
from support.influx import InfluxDB
from support.procs import wait_until

DAY_MS = 86_400_000
NOW_MS = int(time.time() * 1000)


def batch(boot: int, seq: int, ts: list[int], **extra: Any) -> bytes:
    return orjson.dumps({"boot": boot, "seq": seq, "readings": [{"ts": t, "v": 1.5, **extra} for t in ts]})


def influx_settings(tmp_path: Path, state_url: str, influxd: InfluxDB, db: str, **more: Any) -> Settings:
    return load_settings(
        data_dir=tmp_path / "data", database_url=state_url, influx_url=influxd.url, influx_db=db, **more
    )


def stored(influxd: InfluxDB, db: str, device: str) -> list[list[Any]]:
    """[ts, v, seq] of each point of `device`, oldest first."""
    series = influxd.query(f'SELECT "v", "seq" FROM "telemetry" WHERE "device" = \'{device}\'', db=db)
    return [list(row) for row in series[0]["values"]] if series else []


def live(settings: Settings, messages: list[tuple[str, bytes]], dead: int) -> None:
    """Runs `messages` through the service's live router and writer, until `dead` of them are dead letters."""
    service = IngestService(settings)
    service.writer.start()
    try:
        for topic, payload in messages:
            service.writer.submit(service.router.route(Message(topic, payload, NOW_MS, lambda: None)))
        wait_until(lambda: service.dead_letters.count() == dead and service.writer.pending() == 0, 30, "dead")
    finally:
        service.writer.stop()
        service.store.close()
        service.state.close()


def test_readings_too_old_for_the_window_are_stored_once_after_it_is_widened(
    tmp_path: Path, state_url: str, influxd: InfluxDB, influx_db: str
) -> None:
    then = influx_settings(tmp_path, state_url, influxd, influx_db)
    old = NOW_MS - 40 * DAY_MS  # outside the default 30-day window, inside the 60-day one below
    ancient = NOW_MS - 100 * DAY_MS  # outside both
    live(
        then,
        [
            ("sf/dev-1/telemetry", batch(1, 0, [old + i for i in range(5)])),
            ("sf/dev-1/telemetry", batch(1, 5, [NOW_MS - 2, NOW_MS - 1])),
            ("sf/dev-2/telemetry", batch(1, 0, [ancient])),
        ],
        dead=2,
    )
    state = open_state(then.data_dir, state_url)
    letters = DeadLetters(state)
    too_old, too_ancient = sorted(letters.page(Selection()), key=lambda x: x.id)
    assert "older than the accepted window" in too_old.reason and too_old.device == "dev-1"
    assert stored(influxd, influx_db, "dev-1") == [[NOW_MS - 2, 1.5, 5], [NOW_MS - 1, 1.5, 6]]
    # Kept by an earlier release: a batch that was stored and counted after all, and one that fails
    # today for another reason than it did then.
    letters.add(
        [
            DeadLetter(
                NOW_MS, "sf/dev-1/telemetry", "an earlier reason", batch(1, 5, [NOW_MS - 2, NOW_MS - 1])
            ),
            DeadLetter(NOW_MS, "sf/dev-3/telemetry", "an earlier reason", b'{"ts": 5, "v": "warm"}'),
        ]
    )
    counted_again, renamed = (x.id for x in letters.page(Selection(reason="earlier"), limit=2)[::-1])

    today = influx_settings(tmp_path, state_url, influxd, influx_db, max_past_s=60 * 86_400)
    with offline_replayer(today) as replayer:
        report = replayer.replay(Selection())
    assert sorted(report.stored) == [too_old.id, counted_again]
    assert set(report.failed) == {too_ancient.id, renamed} and report.skipped == []
    assert "older than the accepted window" in report.failed[too_ancient.id]
    assert "an earlier reason" not in report.failed[renamed]

    points = [[old + i, 1.5, i] for i in range(5)] + [[NOW_MS - 2, 1.5, 5], [NOW_MS - 1, 1.5, 6]]
    assert stored(influxd, influx_db, "dev-1") == points
    assert stored(influxd, influx_db, "dev-2") == [] == stored(influxd, influx_db, "dev-3")
    dev1 = Registry(state).device("dev-1")
    assert dev1 is not None
    # The replayed batch is counted once (7 distinct readings of boot 1); the batch that had been
    # counted already is 2 duplicates.
    assert (dev1.received, dev1.duplicates, dev1.missing) == (9, 2, 0)
    assert [(b.boot, b.received, list(b.missing)) for b in dev1.boots] == [(1, 7, [])]
    remaining = {x.id: x.reason for x in letters.page(Selection())}
    assert remaining == report.failed

    with offline_replayer(today) as replayer:
        second = replayer.replay(Selection())
    assert second.stored == [] and second.failed == report.failed
    assert stored(influxd, influx_db, "dev-1") == points
    again = Registry(state).device("dev-1")
    assert again is not None and (again.received, again.duplicates, again.missing) == (9, 2, 0)
    state.close()


def test_two_replays_of_one_letter_at_once_store_and_count_it_once(
    tmp_path: Path, state_url: str, influxd: InfluxDB, influx_db: str
) -> None:
    today = influx_settings(tmp_path, state_url, influxd, influx_db)
    state = open_state(today.data_dir, state_url)
    letters = DeadLetters(state)
    letters.add(
        [
            DeadLetter(
                NOW_MS, "sf/dev-1/telemetry", "was refused", batch(1, 0, [NOW_MS + i for i in range(-5, 0)])
            )
        ]
    )
    [letter] = letters.page(Selection())
    reports: list[ReplayReport] = []
    start = threading.Barrier(4)

    def replay() -> None:
        with offline_replayer(today) as replayer:
            start.wait()
            reports.append(replayer.replay(Selection(ids=(letter.id,))))

    threads = [threading.Thread(target=replay) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(i for r in reports for i in r.stored) == [letter.id]
    assert len(stored(influxd, influx_db, "dev-1")) == 5
    dev1 = Registry(state).device("dev-1")
    assert dev1 is not None and (dev1.received, dev1.duplicates) == (5, 0)
    assert letters.count() == 0
    state.close()


def test_an_old_status_is_not_replayed_over_a_device_heard_from_since(tmp_path: Path) -> None:
    today = load_settings(data_dir=tmp_path / "data")
    status = orjson.dumps({"online": True, "fw": "0.9.0", "boot": 3})
    with offline_replayer(today) as replayer:
        replayer.registry.record([(Telemetry("dev-1", (Point("dev-1", NOW_MS, {"v": 1.0}),)), NOW_MS)])
        replayer.dead_letters.add(
            [
                DeadLetter(NOW_MS - 1000, "sf/dev-1/status", "refused then", status),
                DeadLetter(NOW_MS - 1000, "sf/dev-2/status", "refused then", status),
            ]
        )
        stale, fresh = sorted(x.id for x in replayer.dead_letters.page(Selection()))
        report = replayer.replay(Selection())
        assert report.stored == [fresh] and report.failed == {stale: STALE_STATUS}
        assert replayer.registry.device("dev-1").fw is None  # type: ignore[union-attr]
        assert replayer.registry.device("dev-2").fw == "0.9.0"  # type: ignore[union-attr]


# --- Any bytes on any topic: a replay never raises and stores only what the live path accepts. ---

TOPICS = ["sf/dev-1/telemetry", "sf/dev-1/status", "sf/dev-1/cmd/result", "sf/BAD/telemetry", "spool/dev-1"]
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
READING = st.fixed_dictionaries(
    {"ts": st.integers(NOW_MS - 40 * DAY_MS, NOW_MS + DAY_MS)},
    optional={
        "v": st.floats() | st.booleans() | st.text(max_size=4),
        "seq": st.integers(),
        "age": st.integers(),
    },
)
BATCH = st.fixed_dictionaries(
    {"boot": st.integers(-1, 2**64), "seq": st.integers(-1, 2**64), "readings": st.lists(READING, max_size=3)}
)
WELL_FORMED = st.fixed_dictionaries(
    {"ts": st.integers(NOW_MS - 40 * DAY_MS, NOW_MS + DAY_MS), "v": st.floats(-1e300, 1e300)},
    optional={"on": st.booleans(), "t.2": st.floats()},
)
"""Readings the live path stores when their timestamp is in the window (and their floats finite)."""
PAYLOADS = st.one_of(
    st.binary(max_size=200),
    JSON.map(lambda v: json.dumps(v).encode()),
    READING.map(lambda v: json.dumps(v).encode()),
    BATCH.map(lambda v: json.dumps(v).encode()),
    st.just(b'{"online": true, "fw": "1.0"}'),
)
MESSAGES = st.one_of(
    st.tuples(st.sampled_from(TOPICS), PAYLOADS),
    st.tuples(
        st.just("sf/dev-1/telemetry"),
        st.one_of(
            WELL_FORMED.map(lambda v: json.dumps(v).encode()),
            st.lists(WELL_FORMED, min_size=1, max_size=4).map(
                lambda rs: json.dumps({"boot": 1, "seq": len(rs), "readings": rs}).encode()
            ),
        ),
    ),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(message=MESSAGES)
def test_replaying_any_bytes_never_raises_nor_stores_what_the_live_path_rejects(
    tmp_path: Path, message: tuple[str, bytes]
) -> None:
    topic, payload = message
    today = load_settings(data_dir=tmp_path / "data")
    with offline_replayer(today) as replayer:
        letters = replayer.dead_letters
        letters.purge(Selection())
        letters.add([DeadLetter(NOW_MS, topic, "refused", payload)])
        [letter] = letters.page(Selection())
        report = replayer.replay(Selection(ids=(letter.id,)))
        # The live path, on the same message with the same settings and registry:
        judged = Router(today.topic_prefix, limits_of(today), replayer.registry, Metrics()).route(
            Message(topic, payload, NOW_MS, lambda: None)
        )
        remaining = letters.get(letter.id)
    event(f"{type(judged).__name__}, {'stored' if report.stored else 'kept'}")
    assert (report.stored == [letter.id]) == (remaining is None)
    if isinstance(judged, Rejected):
        assert report.stored == [] and report.failed == {letter.id: judged.reason}
        assert remaining is not None and remaining.reason == judged.reason
    else:
        assert report.stored == [letter.id], report.failed
    if isinstance(judged, Readings):
        expected: dict[int, dict[str, object]] = {}
        for point in judged.telemetry.points:  # a later reading with the same ts overwrites an earlier
            expected.setdefault(point.ts_ms, {}).update(point.fields)
        store = SqliteStore(today.data_dir / "telemetry.sqlite")
        try:
            for ts, fields in expected.items():
                [found] = list(store.points("dev-1", ts, ts + 1))
                assert {f: found.fields.get(f) for f in fields} == fields
        finally:
            store.close()
