"""Broker outages and power cuts: every reading arrives, exactly once per (boot, seq) counted
distinct (duplicates on the wire only as retransmits of the same reading), none missing."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from support.boards import (
    Board,
    DurableRecorder,
    batches,
    board_config,
    readings_by_key,
    seqs_by_boot,
    settle_until_quiet,
)

from support.mosquitto import Mosquitto, MosquittoOptions
from support.procs import wait_until


def durable_broker(factory: Callable[..., Mosquitto]) -> Mosquitto:
    # Persistence on, so the recorder's session (and what is queued for it) survives the restart.
    return factory(MosquittoOptions(persistence=True, autosave_interval=1))


def assert_same_reading_when_duplicated(rec: DurableRecorder) -> None:
    for key, copies in readings_by_key(batches(rec.snapshot())).items():
        assert all(c == copies[0] for c in copies), f"{key} arrived with different contents: {copies}"


def test_broker_down_30s_every_reading_arrives_once(
    mosquitto_factory: Callable[..., Mosquitto], board_factory: Callable[..., Board]
) -> None:
    broker = durable_broker(mosquitto_factory)
    rec = DurableRecorder(broker.port, ["sf/dev-1/telemetry"])
    total = 350  # 0.1 s apart: 35 s of sampling, 30 of them without a broker
    board = board_factory(board_config(broker.port, interval_s=0.1, stop_after=total))
    wait_until(lambda: len(rec.snapshot()) >= 2, 20, "first batches")
    broker.stop()
    stopped = time.monotonic()
    time.sleep(30)
    during = board.stats()
    assert during["outbox"] >= 250, during  # ~300 readings waited in flash
    broker.start()
    assert board.wait_exit(60) == 0, board.console()[-2000:]
    assert time.monotonic() - stopped > 30
    settle_until_quiet(lambda: len(rec.snapshot()), 1.0)
    got = seqs_by_boot(batches(rec.snapshot()))
    assert list(got) == [1]
    assert sorted(set(got[1])) == list(range(total)), f"missing: {sorted(set(range(total)) - set(got[1]))}"
    assert_same_reading_when_duplicated(rec)
    final = board.stats()
    assert final["dropped"] == 0 and final["outbox"] == 0 and final["acked"] == total
    assert final["connects"] >= 2
    rec.close()


def test_power_cut_during_outage_loses_nothing_written(
    mosquitto_factory: Callable[..., Mosquitto], board_factory: Callable[..., Board]
) -> None:
    broker = durable_broker(mosquitto_factory)
    rec = DurableRecorder(broker.port, ["sf/dev-1/telemetry", "sf/dev-1/status"], client_id="fw-test-rec-2")
    board = board_factory(board_config(broker.port, interval_s=0.1))
    wait_until(lambda: len(batches(rec.snapshot())) >= 2, 20, "first batches")
    broker.stop()
    time.sleep(4)
    before = board.stats()
    board.kill()  # SIGKILL mid-outage: a power cut, maybe in the middle of a flash write
    assert before["flushed"] >= 40 and before["acked"] < before["flushed"], before

    cfg = board.config_on_flash()
    cfg["stop_after"] = 30
    (board.dir / "config.json").write_text(json.dumps(cfg))
    board.start()  # boot 2 samples while the broker is still down
    board.wait_console(r"boot 2, reset cause power_on, outbox (\d+) waiting", 20)
    time.sleep(2)
    broker.start()
    assert board.wait_exit(60) == 0, board.console()[-2000:]
    settle_until_quiet(lambda: len(rec.snapshot()), 1.0)

    got = seqs_by_boot(batches(rec.snapshot()))
    assert sorted(got) == [1, 2]
    boot1 = sorted(set(got[1]))
    assert boot1 == list(range(len(boot1))), "gap in boot 1"
    assert len(boot1) >= before["flushed"], (len(boot1), before)  # all that reached flash arrived
    assert sorted(set(got[2])) == list(range(30))
    # oldest first: boot 1's replay comes before boot 2's readings
    order = [b["boot"] for b in batches(rec.snapshot())]
    first2 = order.index(2)
    assert set(order[first2:]) == {2}, order
    assert_same_reading_when_duplicated(rec)
    births = [
        json.loads(m[1]) for m in rec.snapshot() if m[0].endswith("/status") and b'"online": true' in m[1]
    ]
    assert births and births[-1]["boot"] == 2
    rec.close()
