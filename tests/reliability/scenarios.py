"""The fault scenarios, each sized by its arguments: the tests run them small, `bench/reliability.py`
runs them longer. Each returns one row of the reliability table after `Chain.verify` passed."""

from __future__ import annotations

import random
import signal
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from reliability.chain import Chain, chain

from support.faultproxy import Fault, HttpFaultProxy
from support.influx import InfluxDB
from support.procs import wait_until

DRAIN_S = 120


@dataclass(frozen=True)
class Row:
    scenario: str
    load: str
    faults: str
    sent: int
    stored: int
    lost: int
    duplicates: int
    recover_s: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _row(c: Chain, scenario: str, faults: str, recover_s: float) -> Row:
    sent = c.sent()
    verified = c.verify()
    rate = sum(1 / m.board.config_on_flash()["interval_s"] for m in c.boards)
    return Row(
        scenario,
        f"{len(c.boards)} board(s), {rate:.0f} readings/s offered",
        faults,
        sent,
        verified["stored"],
        sent - verified["stored"],
        verified["duplicates"],
        round(recover_s, 1),
    )


def kill_ingest(
    root: Path, influx: InfluxDB, db: str, readings: int, kills: int, ingests: int = 1, seed: int = 7
) -> Row:
    """`kill -9` of an ingest at random moments under load, restarted each time. With several
    ingests, they share the load on a shared subscription and a random one is killed each time."""
    rng = random.Random(seed)
    with chain(root, influx, db) as c:
        share = {"SENSORFLEET_SHARE_GROUP": "ingest"} if ingests > 1 else {}
        processes = [c.start_ingest(**share) for _ in range(ingests)]
        c.add_boards(readings)
        c.start_boards()
        recoveries = []
        mid_run = 0
        for _ in range(kills):
            time.sleep(rng.uniform(0.2, 1.0))
            mid_run += any(m.board.process.running() for m in c.boards)
            victim = rng.choice(processes)
            victim.kill()
            started = time.monotonic()
            victim.start()
            recoveries.append(time.monotonic() - started)
        c.wait_boards(DRAIN_S)
        c.wait_drained(c.sent(), DRAIN_S)
        assert mid_run == kills, f"only {mid_run} of {kills} kills landed while the boards published"
        shares = [sum(d["completeness"]["received"] for d in p.devices().values()) for p in processes]
        assert all(shares), f"the shared subscription did not spread the load: {shares}"
        name = "ingest kill -9" if ingests == 1 else f"ingest kill -9, {ingests} sharing"
        return _row(c, name, f"{kills} × kill -9", max(recoveries))


def influx_outage(root: Path, readings: int, outage_s: float, how: str) -> Row:
    """InfluxDB stopped (`kill`) or frozen with SIGSTOP (`freeze`) while the boards publish."""
    influx = InfluxDB(root / "influxdb")
    influx.start()
    try:
        influx.create_database("outage")
        with chain(root, influx, "outage") as c:
            ingest = c.start_ingest(SENSORFLEET_WRITE_TIMEOUT_S="2")
            c.add_boards(readings)
            c.start_boards()
            wait_until(lambda: c.stored_total() > 0, 60, "the first points")
            if how == "kill":
                influx.process.kill()
            else:
                influx.process.signal(signal.SIGSTOP)
            wait_until(lambda: ingest.metrics()["sensorfleet_store_ok"] == 0, 60, "the writer to notice")
            time.sleep(outage_s)
            started = time.monotonic()
            if how == "kill":
                influx.start()
            else:
                influx.process.signal(signal.SIGCONT)
            c.wait_boards(DRAIN_S)
            c.wait_drained(c.sent(), DRAIN_S)
            recover = time.monotonic() - started
            fault = "InfluxDB kill -9" if how == "kill" else "InfluxDB SIGSTOP"
            return _row(c, f"{fault}, {outage_s:.0f} s", "1 outage", recover)
    finally:
        influx.close()


def influx_refusals(root: Path, influx: InfluxDB, db: str, readings: int, rounds: int) -> Row:
    """InfluxDB behind a proxy answering 503 + Retry-After, 429 and 413 to some writes."""
    proxy = HttpFaultProxy(influx.url)
    try:
        with chain(root, influx, db) as c:
            c.start_ingest(influx_url=proxy.url)
            c.add_boards(readings)
            c.start_boards()
            faults = [Fault(503, {"Retry-After": "1"}), Fault(429), Fault(413)]
            injected = 0
            for _ in range(rounds):
                for fault in faults:
                    proxy.inject(fault, 2)
                    injected += 2
                wait_until(lambda: proxy.pending_faults() == 0, 60, "the faults to be served")
            started = time.monotonic()
            c.wait_boards(DRAIN_S)
            c.wait_drained(c.sent(), DRAIN_S)
            served = proxy.served
            assert {503, 429, 413} <= set(served), served
            return _row(c, "InfluxDB 503/429/413", f"{injected} refused writes", time.monotonic() - started)
    finally:
        proxy.close()


def broker_restart(root: Path, influx: InfluxDB, db: str, readings: int, restarts: int) -> Row:
    """Mosquitto stopped cleanly (it saves its store) and started again while the boards publish."""
    with chain(root, influx, db) as c:
        ingest = c.start_ingest()
        c.add_boards(readings)
        c.start_boards()
        recoveries = []
        for _ in range(restarts):
            wait_until(lambda: ingest.metrics()["sensorfleet_broker_connected"] == 1, 60, "the ingest online")
            before = c.stored_total()
            wait_until(lambda n=before: c.stored_total() > n, 60, "points flowing")  # type: ignore[misc]
            c.broker.restart()
            started = time.monotonic()
            wait_until(lambda: ingest.metrics()["sensorfleet_broker_connected"] == 1, 60, "the ingest back")
            recoveries.append(time.monotonic() - started)
        c.wait_boards(DRAIN_S)
        c.wait_drained(c.sent(), DRAIN_S)
        assert c.broker.log().count(" terminating") == restarts
        return _row(c, "broker restart", f"{restarts} × clean restart", max(recoveries))


def board_outage(
    root: Path, influx: InfluxDB, db: str, readings: int, interval_s: float, littlefs: bool = False
) -> Row:
    """One board cut off from the broker, power-cycled half-way through its outage: every reading
    taken offline arrives afterwards, stamped with the time it was taken. `littlefs`: the board's flash
    is a littlefs image, as on an ESP32."""
    with chain(root, influx, db, devices=1) as c:
        c.start_ingest()
        # Every reading goes to flash at once, so the power cut takes none of them with it.
        member = c.add_board(
            "dev-1",
            readings,
            via_proxy=True,
            littlefs=littlefs,
            interval_s=interval_s,
            flush_ms=0,
            outbox_kb=1024,
        )
        assert member.proxy is not None
        member.start()
        wait_until(lambda: c.stored_total() > 0, 60, "the link to work")
        member.proxy.down()
        member.board.wait_stats(lambda s: s["samples"] >= readings // 2, 120, "half the readings")
        first_boot = member.boot()
        member.board.kill()
        taken_before_kill = member.board.stats()["samples"]
        restart_ms = int(time.time() * 1000)
        member.board.process.start()
        second = member.board.wait_stats(
            lambda s: s["boot"] > first_boot and s["samples"] >= readings // 4, 120, "the second boot"
        )
        restored_ms = int(time.time() * 1000)
        member.proxy.restore()
        started = time.monotonic()
        wait_until(lambda: any(t > restart_ms for t, _ in c.stored()["dev-1"].points), 60, "the backlog")
        recover = time.monotonic() - started
        member.wait_done(DRAIN_S)
        c.wait_drained(taken_before_kill + readings, DRAIN_S)
        # `taken_before_kill` is only a lower bound of the killed boot's readings: also wait for every
        # reading of the second boot, all taken after the restart.
        wait_until(
            lambda: sum(t >= restart_ms for t, _ in c.stored()["dev-1"].points) >= readings,
            DRAIN_S,
            "every reading of the second boot",
        )
        points = c.stored()["dev-1"].points
        # The killed boot's ledger is what it had put on flash: at least what it reported taking.
        # Its readings all predate the restart; `verify` checks they are numbered 0..n-1 once each.
        member.ledger[first_boot] = sum(t < restart_ms for t, _ in points)
        assert member.ledger[first_boot] >= taken_before_kill, (member.ledger, taken_before_kill)
        # The second boot's first readings were taken while the link was down and sent only after
        # it came back: they carry their sampling time, not their arrival time.
        offline = [t for t, seq in points if t >= restart_ms and seq < second["samples"]]
        assert len(offline) == second["samples"] and max(offline) < restored_ms
        faults = f"link down; kill -9 after {member.ledger[first_boot]} readings; {len(offline)} more offline"
        return _row(c, "board offline + power cut", faults, recover)


def silent_path(root: Path, influx: InfluxDB, db: str, readings: int, keepalive_s: int) -> Row:
    """The path between a board and the broker goes silent without closing (a black hole): the
    board's keepalive and the broker's both notice, and the board reconnects when the path is back."""
    with chain(root, influx, db, devices=1) as c:
        ingest = c.start_ingest()
        mqtt = {"keepalive": keepalive_s, "timeout_s": keepalive_s}
        member = c.add_board("dev-1", readings, via_proxy=True, mqtt=mqtt)
        assert member.proxy is not None

        def online() -> bool | None:
            return ingest.devices()["dev-1"]["online"]  # type: ignore[no-any-return]

        member.start()
        wait_until(lambda: c.stored_total() > 0 and online() is True, 60, "the link to work")
        reconnects_before = member.board.console().count("reconnecting in")
        member.proxy.blackhole()
        cut = time.monotonic()
        # The broker's end declares the board gone and publishes its last will to the ingest; the
        # board's end gives up on the silent link (no PINGRESP, or no PUBACK when it was mid-publish)
        # and starts reconnecting. Both are timed from the cut.
        noticed: dict[str, float] = {}

        def both_noticed() -> bool:
            if "broker" not in noticed and online() is False:
                noticed["broker"] = time.monotonic() - cut
            if "board" not in noticed and member.board.console().count("reconnecting in") > reconnects_before:
                noticed["board"] = time.monotonic() - cut
            return len(noticed) == 2

        # Without keepalive a black hole is never noticed; the margin is for a loaded CI machine.
        wait_until(both_noticed, 10 * keepalive_s + 30, "both ends to notice the silent path", interval=0.1)
        member.proxy.restore()
        restored = time.monotonic()
        wait_until(lambda: online() is True, 60, "the board back online")
        recover = time.monotonic() - restored
        member.wait_done(DRAIN_S)
        c.wait_drained(c.sent(), DRAIN_S)
        board_s, broker_s = noticed["board"], noticed["broker"]
        detected = f"silent path; noticed by board in {board_s:.1f} s, by broker in {broker_s:.1f} s"
        return _row(c, f"black hole, keepalive {keepalive_s} s", detected, recover)


def broker_kill_window(
    root: Path, influx: InfluxDB, db: str, readings: int, kill_after_s: float, autosave: str
) -> Row:
    """The limit: Mosquitto killed with `kill -9` while it holds the queue of a stopped ingest loses
    what it accepted (and acknowledged to the boards) since its last save. `autosave` is the broker
    configuration under test; the row's `lost` is the measured window."""
    with chain(root, influx, db, broker_extra=autosave) as c:
        ingest = c.start_ingest()
        ingest.process.stop()  # the broker queues for the ingest's session from now on
        c.add_boards(readings)
        c.start_boards()
        time.sleep(kill_after_s)
        c.broker.process.kill()
        killed = time.monotonic()
        c.broker.start()
        recover = time.monotonic() - killed
        c.start_ingest(SENSORFLEET_CLIENT_ID="ingest-0")
        c.wait_boards(DRAIN_S)
        wait_until(lambda: all(_idle_ingest(i) for i in c.running_ingests()), DRAIN_S, "the ingest idle")
        time.sleep(2)  # what the broker still had arrives within a second of the ingest's return
        stored = c.stored()
        lost = 0
        for member in c.boards:
            seqs = stored[member.device_id].seqs() if member.device_id in stored else []
            assert len(seqs) == len(set(seqs)) and set(seqs) <= set(range(member.readings))
            lost += member.readings - len(seqs)
        sent = c.sent()
        setting = " ".join(autosave.split()) or "autosave_interval 1"
        return Row(
            f"broker kill -9 ({setting})",
            f"{len(c.boards)} boards, ingest down, broker holding the queue",
            f"kill -9 after {kill_after_s:.0f} s",
            sent,
            sent - lost,
            lost,
            0,
            round(recover, 1),
        )


def _idle_ingest(ingest: Any) -> bool:
    m = ingest.metrics()
    return bool(m["sensorfleet_writer_pending"] == 0 and m["sensorfleet_spool_batches"] == 0)
