"""Three `sensorfleet serve` processes on one PostgreSQL state store and one shared subscription, ten
real boards, PostgreSQL restarted while they publish, and one of the processes killed with -9 at random
three times: every process's API shows the whole fleet, its counts equal to the boards' ledger; a
token made through one process works on the others; a command sent through one process gets its
answer through that process, and every process finds that answer."""

from __future__ import annotations

import random
import time
import uuid
from pathlib import Path

from api.helpers import bearer
from reliability.chain import chain
from reliability.scenarios import DRAIN_S

from ingest.api.tokens import Scope
from support.influx import InfluxDB
from support.postgres import PostgreSQL
from support.procs import wait_until

BOARDS = 10
READINGS = 1200


def test_three_ingests_on_one_postgresql_answer_for_the_whole_fleet_through_a_restart_of_it(
    tmp_path: Path, influxd: InfluxDB, influx_db: str, postgres: PostgreSQL
) -> None:
    rng = random.Random(11)
    url = postgres.create_database(f"fleet_{uuid.uuid4().hex[:8]}")
    with chain(tmp_path, influxd, influx_db, devices=BOARDS) as c:
        env = {"SENSORFLEET_SHARE_GROUP": "fleet", "SENSORFLEET_DATABASE_URL": url}
        processes = [c.start_ingest(**env) for _ in range(3)]
        # 24 s of publishing: room for a command, a PostgreSQL restart and three kills while it lasts.
        c.add_boards(READINGS, interval_s=0.02)
        c.start_boards()
        # A command through one process is answered through it.
        wait_until(lambda: processes[1].devices().get("dev-1", {}).get("online"), 30, "dev-1 online")
        answer = processes[1].http.post(
            "/api/v1/devices/dev-1/commands",
            params={"wait": 5},
            json={"op": "ping", "id": "shared-ping"},
        )
        assert answer.status_code == 200 and answer.json()["status"] == "ok", answer.text

        # The state store lost under load: every process says it is unready, holds what it has not
        # recorded and records it once PostgreSQL is back.
        time.sleep(1)
        postgres.stop()
        health = [p.http.get("/healthz").json() for p in processes]
        assert [h["state_ok"] for h in health] == [False] * 3, health
        assert [p.http.get("/readyz").status_code for p in processes] == [503] * 3
        time.sleep(2)
        assert any(m.board.process.running() for m in c.boards), "the boards finished during the outage"
        postgres.start()
        wait_until(lambda: all(p.http.get("/readyz").status_code == 200 for p in processes), 30, "ready")

        mid_run = 0
        for _ in range(3):
            time.sleep(rng.uniform(0.5, 2.0))
            mid_run += any(m.board.process.running() for m in c.boards)
            victim = rng.choice(processes)
            victim.kill()
            victim.start()
        assert mid_run == 3, f"only {mid_run} of 3 kills landed while the boards published"
        c.wait_boards(DRAIN_S)
        c.wait_drained(c.sent(), DRAIN_S)
        c.verify(shared_state=True)
        assert [sorted(p.devices()) for p in processes] == [sorted(f"dev-{i + 1}" for i in range(BOARDS))] * 3

        secret = processes[0].tokens.create(Scope.READ, "made on the first")[0]
        for p in processes:
            assert p.http.get("/api/v1/devices", headers=bearer(secret)).status_code == 200
        # The answer is in the shared registry: every process finds it (`op` is null where the process
        # did not send the command, or was restarted since).
        for p in processes:
            assert p.http.get("/api/v1/devices/dev-1/commands/shared-ping").json()["status"] == "ok"
