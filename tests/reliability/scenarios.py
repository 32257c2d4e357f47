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
    sent = sum(m.readings * len(m.boots) for m in c.boards)
    verified = c.verify()
    rate = len(c.boards) / 0.01
    return Row(
        scenario,
        f"{len(c.boards)} boards, {rate:.0f} readings/s offered",
        faults,
        sent,
        verified["stored"],
        sent - verified["stored"],
        verified["duplicates"],
        round(recover_s, 1),
    )


def kill_ingest(root: Path, influx: InfluxDB, db: str, readings: int, kills: int, seed: int = 7) -> Row:
    """`kill -9` of the ingest at random moments under load, restarted each time."""
    rng = random.Random(seed)
    with chain(root, influx, db) as c:
        ingest = c.start_ingest()
        for member in list(c.passwords):
            c.add_board(member, readings)
        for member in c.boards:
            member.start()
        recoveries = []
        mid_run = 0
        for _ in range(kills):
            time.sleep(rng.uniform(0.3, 1.5))
            mid_run += any(m.board.process.running() for m in c.boards)
            ingest.kill()
            started = time.monotonic()
            ingest.start()
            recoveries.append(time.monotonic() - started)
        for member in c.boards:
            member.wait_done(DRAIN_S)
            member.boots.append(1)
        c.wait_drained(sum(m.readings for m in c.boards), DRAIN_S)
        assert mid_run == kills, f"only {mid_run} of {kills} kills landed while the boards published"
        return _row(c, "ingest kill -9", f"{kills} × kill -9", max(recoveries))


def influx_outage(root: Path, readings: int, outage_s: float, how: str) -> Row:
    """InfluxDB stopped (`kill`) or frozen with SIGSTOP (`freeze`) while the boards publish."""
    influx = InfluxDB(root / "influxdb")
    influx.start()
    try:
        influx.create_database("outage")
        with chain(root, influx, "outage") as c:
            ingest = c.start_ingest(SENSORFLEET_WRITE_TIMEOUT_S="2")
            for member in list(c.passwords):
                c.add_board(member, readings)
            for member in c.boards:
                member.start()
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
            for member in c.boards:
                member.wait_done(DRAIN_S)
                member.boots.append(1)
            c.wait_drained(sum(m.readings for m in c.boards), DRAIN_S)
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
            for member in list(c.passwords):
                c.add_board(member, readings)
            for member in c.boards:
                member.start()
            faults = [Fault(503, {"Retry-After": "1"}), Fault(429), Fault(413)]
            injected = 0
            for _ in range(rounds):
                for fault in faults:
                    proxy.inject(fault, 2)
                    injected += 2
                wait_until(lambda: proxy.pending_faults() == 0, 60, "the faults to be served")
            started = time.monotonic()
            for member in c.boards:
                member.wait_done(DRAIN_S)
                member.boots.append(1)
            c.wait_drained(sum(m.readings for m in c.boards), DRAIN_S)
            served = proxy.served
            assert {503, 429, 413} <= set(served), served
            return _row(c, "InfluxDB 503/429/413", f"{injected} refused writes", time.monotonic() - started)
    finally:
        proxy.close()
