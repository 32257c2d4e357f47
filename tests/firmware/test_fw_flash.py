"""Virtual boards whose flash is a littlefs image with 4 KiB blocks, as on an ESP32
(firmware/hal/flash.py counts the block erases and bytes programmed): the outbox's wear per
reading, the power-cut guarantee on littlefs, and a flash too small for the configured outbox."""

from __future__ import annotations

import time
from collections.abc import Callable

from support.boards import Board, DurableRecorder, batches, board_config, seqs_by_boot

from support.mosquitto import Mosquitto, MosquittoOptions
from support.mqtt import Recorder
from support.procs import wait_until

READINGS = 200


def wear(board: Board) -> tuple[float, float]:
    assert board.wait_exit(60) == 0, board.console()[-2000:]
    final = board.stats()
    assert final["acked"] == READINGS, final
    return final["erases"] / READINGS, final["programmed"] / READINGS


def test_batched_flash_writes_wear_ten_times_less_than_one_write_per_reading(
    mosquitto: Mosquitto, board_factory: Callable[..., Board]
) -> None:
    common = {"interval_s": 0.025, "stop_after": READINGS}
    each = board_factory(board_config(mosquitto.port, flush_ms=0, **common), name="each", flash_kib=2048)
    cfg = board_config(mosquitto.port, device_id="dev-2", **common)
    del cfg["flush_ms"]  # the firmware's default
    default = board_factory(cfg, name="default", flash_kib=2048)
    e_each, p_each = wear(each)
    e_default, p_default = wear(default)
    print(
        f"\nerases/reading: one write per reading {e_each:.3f}, default {e_default:.3f}; "
        f"bytes programmed/reading {p_each:.0f} vs {p_default:.0f}"
    )
    assert e_each >= 0.9  # each write copies the segment's last block: about one erase
    assert e_default <= 0.1
    assert p_default * 5 < p_each


def test_power_cut_on_littlefs_loses_nothing_that_reached_flash(
    mosquitto_factory: Callable[..., Mosquitto], board_factory: Callable[..., Board]
) -> None:
    broker = mosquitto_factory(MosquittoOptions(persistence=True, autosave_interval=1))
    rec = DurableRecorder(broker.port, ["sf/dev-1/telemetry"], client_id="fw-flash-rec")
    board = board_factory(board_config(broker.port, interval_s=0.05, flush_ms=300), flash_kib=1024)
    wait_until(lambda: len(batches(rec.snapshot())) >= 2, 20, "first batches")
    broker.stop()
    time.sleep(3)
    before = board.stats()
    board.kill()  # SIGKILL: a power cut, maybe in the middle of a flash write
    assert before["flushed"] >= 40 and before["acked"] < before["flushed"], before
    board.start()
    board.wait_console(r"boot 2, reset cause power_on, outbox (\d+) waiting", 20)
    broker.start()

    def boot1() -> list[int]:
        return sorted(set(seqs_by_boot(batches(rec.snapshot())).get(1, [])))

    wait_until(lambda: len(boot1()) >= before["flushed"] and 2 in seqs_by_boot(batches(rec.snapshot())), 30,
               "boot 1's readings from flash, then boot 2's")  # fmt: skip
    assert boot1() == list(range(len(boot1()))), "gap in boot 1"
    rec.close()


def test_a_flash_too_small_for_the_outbox_shrinks_it_and_keeps_sampling(
    board_factory: Callable[..., Board], mosquitto: Mosquitto
) -> None:
    rec = Recorder(mosquitto.port, ["sf/dev-1/status"])
    cfg = board_config(mosquitto.port, interval_s=0.002, flush_ms=50, batch_max=50, outbox_kb=1024)
    cfg["mqtt"]["port"] = 1  # no broker for the readings: the outbox fills up
    board = board_factory(cfg, flash_kib=384)
    board.wait_console(r"outbox: 1024 KiB do not fit the free flash, using (\d+) KiB", 20)
    st = board.wait_stats(lambda s: s["dropped"] > 500, 60, "a full outbox dropping its oldest")
    assert st["flash_full"] >= 1 and st["crashes"] == 0
    assert "Traceback" not in board.console() and board.process.running()
    rec.close()
