"""10,000 readings through one virtual board on a 128K heap, including a full outbox (drop-oldest)
and its replay: no MemoryError, and the heap high-water mark stays below the cap."""

from __future__ import annotations

import time
from collections.abc import Callable

from support.boards import Board, board_config

from support.mosquitto import Mosquitto
from support.mqtt import Recorder
from support.procs import wait_until

TOTAL = 10_000
HEAP = 128 * 1024


def test_10000_readings_full_outbox_and_replay_on_128k_heap(
    mosquitto_factory: Callable[..., Mosquitto], board_factory: Callable[..., Board]
) -> None:
    broker = mosquitto_factory()
    broker.stop()  # the board starts into an outage
    t0 = time.monotonic()
    board = board_factory(
        board_config(
            broker.port,
            interval_s=0.002,
            stop_after=TOTAL,
            outbox_kb=16,
            segment_kb=1,
            flush_ms=100,
            batch_max=50,
            log_s=0.25,
        )
    )
    board.wait_stats(lambda s: s["dropped"] > 0, 30, "a full outbox dropping its oldest")
    broker.start()
    rec = Recorder(broker.port, ["sf/dev-1/telemetry"])
    code = board.wait_exit(80)
    console = board.console()
    assert code == 0 and "MemoryError" not in console, console[-3000:]
    final = board.stats()
    elapsed = time.monotonic() - t0
    print(
        f"\nheap high-water {final['heap_peak']} B of {HEAP} B; {TOTAL} readings in {elapsed:.1f} s; "
        f"dropped {final['dropped']}; bytes out {final['bytes_out']}"
    )
    assert final["samples"] == TOTAL and final["outbox"] == 0
    assert 0 < final["heap_peak"] < HEAP
    assert final["heap_peak"] < 112 * 1024, "heap budget (docs/firmware.md)"
    assert final["dropped"] > 0
    assert final["acked"] + final["dropped"] >= TOTAL
    wait_until(lambda: len(rec.snapshot()) > 0, 10, "replayed readings")
    rec.close()
    assert elapsed < 90
