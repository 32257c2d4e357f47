"""The writer against a small loopback HTTP server that scripts InfluxDB's answers: retries, Retry-After,
413 splitting, permanent failures isolated to their message, and spooling while the store is down."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from ingest.codec.payload import Telemetry
from ingest.deadletters import DeadLetters
from ingest.errors import TransientStoreError
from ingest.metrics import Metrics
from ingest.pipeline.work import Message, Readings
from ingest.pipeline.writer import Writer, WriterConfig
from ingest.points import Point
from ingest.registry import Registry
from ingest.state.migrate import open_state
from ingest.storage.influx import InfluxStore
from ingest.storage.influx_http import InfluxHttp
from ingest.storage.spool import Spool
from support.procs import wait_until


@dataclass
class FakeInflux:
    """Answers each /write with the next scripted (status, headers, body), then 204; records every request."""

    script: list[tuple[int, dict[str, str], str]] = field(default_factory=list)
    requests: list[tuple[str, dict[str, list[str]], dict[str, str], list[str]]] = field(default_factory=list)
    reject_marker: str | None = None
    """Lines containing this get a 400 (the rest of the request is still stored, like a partial write)."""
    max_lines: int | None = None
    """More lines than this in one request → 413."""
    stored: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, path: str, query: dict[str, list[str]], headers: dict[str, str], body: bytes) -> tuple:
        lines = (
            gzip.decompress(body).decode().split("\n") if headers.get("content-encoding") == "gzip" else []
        )
        with self.lock:
            self.requests.append((path, query, headers, lines))
            if self.script:
                return self.script.pop(0)
            if self.max_lines is not None and len(lines) > self.max_lines:
                return 413, {}, '{"error":"Request Entity Too Large"}'
            good = [x for x in lines if not (self.reject_marker and self.reject_marker in x)]
            self.stored.extend(good)
            if len(good) < len(lines):
                return 400, {}, '{"error":"partial write: field type conflict dropped=1"}'
            return 204, {}, ""


@pytest.fixture
def fake_influx() -> Iterator[tuple[FakeInflux, str]]:
    fake = FakeInflux()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            parts = urlsplit(self.path)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, extra, text = fake.answer(parts.path, parse_qs(parts.query), headers, body)
            self.send_response(status)
            for k, v in extra.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            self.wfile.write(text.encode())

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class Harness:
    def __init__(
        self,
        url: str,
        tmp_path: Path,
        api: str = "v1",
        flush_interval_s: float = 0.05,
        max_queued: int = 5000,
    ):
        self.sleeps: list[float] = []
        self.acked: list[int] = []
        self.store = InfluxStore(InfluxHttp(url, "db1", api, token="t0ken" if api == "v2" else None, org="o"))
        self.spool = Spool(tmp_path / "spool", 1 << 20)
        self.dead = DeadLetters(open_state(tmp_path))
        self.metrics = Metrics()
        config = WriterConfig(
            flush_interval_s=flush_interval_s, write_attempts=3, retry_base_s=0.01, max_queued=max_queued
        )
        self.writer = Writer(
            self.store,
            self.spool,
            self.dead,
            Registry(open_state(tmp_path)),
            self.metrics,
            config,
            self.sleep,
        )

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    def submit(self, n: int, start: int = 0, marker: str = "") -> None:
        for i in range(start, start + n):
            fields = {f"v{marker}": float(i)} if marker else {"v": float(i)}
            t = Telemetry("dev-1", (Point("dev-1", 1000 + i, fields),))
            self.writer.submit(
                Readings(Message("sf/dev-1/telemetry", b"{}", 1, lambda i=i: self.acked.append(i)), t)
            )

    def run_until_acked(self, n: int) -> None:
        self.writer.start()
        wait_until(lambda: len(self.acked) >= n, 20, f"{n} acks")
        self.writer.stop()


def test_an_idle_writer_writes_a_message_at_once(fake_influx, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Group commit: a batch may wait `flush_interval_s` for more only while messages keep coming."""
    fake, url = fake_influx
    h = Harness(url, tmp_path, flush_interval_s=30)
    h.writer.start()
    try:
        for n in range(3):
            h.submit(1, start=n)
            wait_until(lambda n=n: len(h.acked) == n + 1, 10, f"message {n} stored and acknowledged")
    finally:
        h.writer.stop()
    assert [len(r[3]) for r in fake.requests] == [1, 1, 1]


def test_messages_that_queued_up_meanwhile_go_in_one_batch(fake_influx, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    fake, url = fake_influx
    h = Harness(url, tmp_path, flush_interval_s=30)
    h.submit(200)
    h.run_until_acked(200)
    assert [len(r[3]) for r in fake.requests] == [200]
    assert h.acked == list(range(200))


def test_a_full_queue_makes_the_intake_wait_until_the_writer_takes_some(fake_influx, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The MQTT client's thread waits in `submit` (and so stops reading) while `max_queued` messages
    wait: what the writer has not taken stays with the broker, not in memory."""
    _, url = fake_influx
    h = Harness(url, tmp_path, flush_interval_s=30, max_queued=50)
    h.submit(50)
    late = threading.Thread(target=h.submit, args=(10, 50))
    late.start()
    late.join(0.5)
    assert late.is_alive() and h.writer.pending() == 50  # waiting for room, nothing queued beyond
    h.run_until_acked(60)
    late.join(5)
    assert not late.is_alive() and h.acked == list(range(60))


def test_transient_errors_are_retried_with_backoff_then_written(fake_influx, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    fake, url = fake_influx
    fake.script = [(503, {}, "busy"), (500, {}, "oops")]
    h = Harness(url, tmp_path)
    h.submit(3)
    h.run_until_acked(3)
    assert [len(r[3]) for r in fake.requests] == [3, 3, 3]
    assert len(fake.stored) == 3 and h.spool.batches == 0
    assert h.sleeps == [0.01, 0.02]
    assert h.acked == [0, 1, 2]


def test_retry_after_is_honoured(fake_influx, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    fake, url = fake_influx
    fake.script = [(429, {"Retry-After": "2"}, "slow down")]
    h = Harness(url, tmp_path)
    h.submit(1)
    h.run_until_acked(1)
    assert h.sleeps == [2.0]
    assert len(fake.stored) == 1


def test_413_splits_the_batch_until_it_fits(fake_influx, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    fake, url = fake_influx
    fake.max_lines = 3
    h = Harness(url, tmp_path)
    h.submit(10)
    h.run_until_acked(10)
    assert sorted(int(line.rsplit(" ", 1)[1]) for line in fake.stored) == list(range(1000, 1010))
    assert max(len(r[3]) for r in fake.requests if len(r[3]) <= 3) <= 3


def test_a_permanent_failure_dead_letters_only_its_message(fake_influx, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    fake, url = fake_influx
    fake.reject_marker = "vBAD="
    h = Harness(url, tmp_path)
    h.submit(4)
    h.submit(1, start=4, marker="BAD")
    h.submit(3, start=5)
    h.run_until_acked(8)
    assert sorted(h.acked) == list(range(8))
    assert len({line for line in fake.stored}) == 7
    [letter] = h.dead.recent()
    assert "field type conflict" in letter.reason
    assert h.metrics.get("dead_letters") == 1


def test_store_down_spools_and_acks_then_replays_in_order(fake_influx, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    fake, url = fake_influx
    fake.script = [(503, {}, "down")] * 3
    h = Harness(url, tmp_path)
    h.submit(5)
    h.writer.start()
    wait_until(lambda: len(h.acked) == 5, 20, "acks while the store is down")
    wait_until(lambda: h.spool.batches == 0, 20, "the spool to drain")
    h.writer.stop()
    assert h.metrics.get("points_spooled") == 5
    assert [int(line.rsplit(" ", 1)[1]) for line in fake.stored] == list(range(1000, 1005))


def test_v2_api_sends_token_bucket_and_org(fake_influx, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    fake, url = fake_influx
    h = Harness(url, tmp_path, api="v2")
    h.submit(1)
    h.run_until_acked(1)
    path, query, headers, _ = fake.requests[0]
    assert path == "/api/v2/write"
    assert (query["bucket"], query["org"], query["precision"]) == (["db1"], ["o"], ["ms"])
    assert headers["authorization"] == "Token t0ken"
    assert headers["content-encoding"] == "gzip"


def test_unreachable_store_is_transient(tmp_path: Path) -> None:
    from support.procs import free_port

    store = InfluxStore(InfluxHttp(f"http://127.0.0.1:{free_port()}", "db1", timeout=1))
    with pytest.raises(TransientStoreError):
        store.write([Point("dev-1", 1, {"v": 1.0})])


def test_spool_full_stops_acknowledging_until_the_store_is_back(fake_influx, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    fake, url = fake_influx
    fake.script = [(503, {}, "down")] * 10_000
    h = Harness(url, tmp_path)
    h.spool = Spool(tmp_path / "small-spool", 400)  # room for a batch or two, not for everything
    h.writer.spool = h.spool
    h.writer.start()
    for n in range(6):
        h.submit(5, start=n * 5)
        wait_until(lambda: h.writer.pending() == 0 or h.writer.spool_full, 20, "the batch stored or held")
    wait_until(lambda: h.writer.spool_full, 20, "the spool to fill")
    acked_while_full = len(h.acked)
    assert 0 < acked_while_full < 30
    assert h.metrics.get("messages_acked") == acked_while_full
    with fake.lock:
        fake.script.clear()  # the store is back
    wait_until(lambda: len(h.acked) == 30, 30, "every message acknowledged")
    wait_until(lambda: h.spool.batches == 0, 30, "the spool to drain")
    h.writer.stop()
    assert not h.writer.spool_full
    assert sorted(int(line.rsplit(" ", 1)[1]) for line in fake.stored) == list(range(1000, 1030))


def test_a_missing_database_spools_instead_of_dead_lettering(fake_influx, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    fake, url = fake_influx
    fake.script = [(404, {}, '{"error":"database not found: \\"db1\\""}')] * 3
    h = Harness(url, tmp_path)
    h.submit(2)
    h.run_until_acked(2)
    assert h.dead.count() == 0
    assert h.metrics.get("points_spooled") == 2
