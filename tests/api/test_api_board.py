"""Commands through a real `sensorfleet serve` to a virtual board running the real firmware on the
MicroPython unix port, and their results back."""

from __future__ import annotations

from pathlib import Path

import httpx
from api.helpers import bearer

from ingest.api.tokens import Scope
from ingest.provision.virtual import prepare_board, sim_config
from support.micropython import VirtualBoard
from support.mosquitto import Mosquitto
from support.procs import wait_until
from support.serve import ServeProcess


def test_a_command_reaches_a_virtual_board_and_its_result_comes_back(
    tmp_path: Path, serve: ServeProcess, mosquitto: Mosquitto, micropython: str
) -> None:
    config = sim_config("board-1", 0, "127.0.0.1", mosquitto.port, "sf", 0.2)
    board = VirtualBoard(prepare_board(tmp_path / "board-1", config))
    api = httpx.Client(base_url=serve.url, headers=bearer(serve.tokens.create(Scope.COMMAND)[0]), timeout=30)
    board.start()
    try:
        wait_until(
            lambda: (
                api.get("/api/v1/devices/board-1").status_code == 200
                and api.get("/api/v1/devices/board-1").json()["online"] is True
            ),
            60,
            f"board-1 online; its console:\n{board.console()[-2000:]}",
        )
        r = api.post("/api/v1/devices/board-1/commands", params={"wait": 20}, json={"op": "ping", "id": "p1"})
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "ok" and r.json()["result"]["pong"] is True

        r = api.post(
            "/api/v1/devices/board-1/commands",
            params={"wait": 20},
            json={"op": "set", "args": {"interval_s": 0.5}},
        )
        assert r.status_code == 200 and r.json()["status"] == "ok", r.text
        r = api.post(
            "/api/v1/devices/board-1/commands",
            params={"wait": 20},
            json={"op": "set", "args": {"interval_s": -1}},
        )
        assert r.status_code == 200 and r.json()["status"] == "error" and "interval_s" in r.json()["error"]
        # The same id again: the board answers with what it answered the first time, without running it.
        again = api.post(
            "/api/v1/devices/board-1/commands", params={"wait": 20}, json={"op": "ping", "id": "p1"}
        )
        assert again.json()["result"] == api.get("/api/v1/devices/board-1/commands/p1").json()["result"]
        # Maintenance for USB work, asked through the API like any other command.
        r = api.post("/api/v1/devices/board-1/commands", params={"wait": 20}, json={"op": "maint"})
        assert r.status_code == 200 and r.json()["status"] == "ok", r.text
        assert r.json()["result"]["maintenance"] is True

        board.kill()
        r = api.post("/api/v1/devices/board-1/commands", params={"wait": 1}, json={"op": "ping"})
        assert r.status_code == 504 and r.json()["status"] == "pending"
    finally:
        board.stop()
