"""Over-the-air updates end to end, as real processes: virtual boards running the real firmware log in
as themselves to a Mosquitto with the provisioned password file and ACL; `sensorfleet serve` answers
their chunk requests and runs the rollout (ticking every 0.2 s); InfluxDB gets the readings.

The bundle is the unix profile's firmware tree without the boot stub, compiled, as `sensorfleet firmware
build` makes it; a scenario that needs a bad app changes a file of it."""

from __future__ import annotations

import struct
import time
from pathlib import Path

from reliability.chain import chain
from reliability.ota_fleet import (
    TICK,
    app_files,
    device,
    ota_status,
    publish_bundle,
    roll_out,
    rollout_state,
    start_running,
    stored_count,
)

from ingest.ota.rollouts import RolloutState
from support.influx import InfluxDB
from support.mqtt import Recorder
from support.procs import wait_until


def test_rollout_to_five_boards_canary_then_waves_of_two(
    tmp_path: Path, influxd: InfluxDB, influx_db: str
) -> None:
    with chain(tmp_path, influxd, influx_db, devices=5) as c:
        c.start_ingest(**TICK)
        boards = start_running(c, 5)
        ids = [m.device_id for m in boards]
        wait_until(lambda: all(device(c, d).get("fw") == "0.1.0" for d in ids), 60, "boards online")
        publish_bundle(c, "0.2.0", app_files())
        rid = roll_out(c, "0.2.0", ids, canary=1, wave="2")
        try:
            wait_until(lambda: rollout_state(c, rid)[0] == RolloutState.DONE, 120, "rollout done")
        except TimeoutError:
            raise AssertionError((rollout_state(c, rid), boards[0].board.console()[-2000:])) from None
        _, members = rollout_state(c, rid)
        assert set(members.values()) == {"healthy"}, members
        assert all(device(c, d)["fw"] == "0.2.0" for d in ids)
        # Readings go on after the update, and nothing is stored twice.
        before = {d: stored_count(c, d) for d in ids}
        wait_until(lambda: all(stored_count(c, d) > before[d] + 5 for d in ids), 30, "readings after")
        for d in ids:
            stamps = [t for t, _ in c.stored()[d].points]
            assert len(stamps) == len(set(stamps)), d
            n = device(c, d)["completeness"]
            assert n["missing"] == 0, (d, n)
        for m in boards:
            assert "CRASH" not in m.board.console(), m.board.console()[-2000:]


def test_a_board_cut_mid_download_resumes_and_an_ingest_killed_mid_rollout_goes_on(
    tmp_path: Path, influxd: InfluxDB, influx_db: str
) -> None:
    with chain(tmp_path, influxd, influx_db, devices=3) as c:
        ingest = c.start_ingest(**TICK)
        boards = start_running(c, 3)
        ids = [m.device_id for m in boards]
        wait_until(lambda: all(device(c, d).get("fw") == "0.1.0" for d in ids), 60, "boards online")
        publish_bundle(c, "0.2.0", app_files())
        rid = roll_out(c, "0.2.0", ids, canary=1, wave="2")
        canary = boards[0]
        # The power goes while the canary downloads: it comes back on its old app and goes on.
        wait_until(lambda: ota_status(c, "dev-1").get("ota_progress", 0) >= 20, 60, "canary downloading")
        canary.board.kill()
        canary.start()
        # And again as soon as it has staged the update: before, during or after the swap.
        wait_until(lambda: "staged; rebooting" in canary.board.console(), 90, "canary staged")
        canary.board.kill()
        canary.start()
        wait_until(lambda: rollout_state(c, rid)[1]["dev-1"] == "healthy", 90, "canary healthy")
        console = canary.board.console()
        assert device(c, "dev-1")["fw"] == "0.2.0" and "CRASH" not in console, console[-3000:]
        assert "ota: resuming the download of 0.2.0" in console, console[-3000:]
        # The ingest dies while the second wave downloads; the rollout goes on from the state store.
        wait_until(lambda: ota_status(c, "dev-2").get("ota") == "downloading", 60, "wave 2 downloading")
        ingest.kill()
        ingest.start()
        wait_until(lambda: rollout_state(c, rid)[0] == RolloutState.DONE, 120, "rollout done")
        assert all(device(c, d)["fw"] == "0.2.0" for d in ids)
        for d in ids:
            stamps = [t for t, _ in c.stored()[d].points]
            assert len(stamps) == len(set(stamps)), d


def test_a_broken_app_is_rolled_back_on_the_canary_and_the_rollout_halts(
    tmp_path: Path, influxd: InfluxDB, influx_db: str
) -> None:
    """Two rollouts at once, each to a canary and a board behind it: an app that raises at import
    (K crash boots, then the stub restores the previous app) and one that runs but never reaches the
    broker (not healthy within T seconds, then the same)."""

    def raises(files: dict[str, bytes]) -> None:
        files["sensorfleet/app.py"] = b"raise RuntimeError('broken build')\n" + files["sensorfleet/app.py"]

    def offline(files: dict[str, bytes]) -> None:
        src = files["sensorfleet/transport.py"]
        opening = b"    async def open(self):\n"
        assert opening in src
        files["sensorfleet/transport.py"] = src.replace(
            opening, opening + b"        raise OSError(113, 'no route to the broker')\n"
        )

    with chain(tmp_path, influxd, influx_db, devices=4) as c:
        c.start_ingest(**TICK)
        boards = start_running(c, 4)
        ids = [m.device_id for m in boards]
        wait_until(lambda: all(device(c, d).get("fw") == "0.1.0" for d in ids), 60, "boards online")
        publish_bundle(c, "0.3.0-raises", app_files(raises))
        publish_bundle(c, "0.3.0-offline", app_files(offline))
        crashing = roll_out(c, "0.3.0-raises", ["dev-1", "dev-2"], canary=1, wave="1")
        silent = roll_out(c, "0.3.0-offline", ["dev-3", "dev-4"], canary=1, wave="1")
        # A crash boot ends the process (exit 3), as the chip resets: restarted here like the chip.
        deadline = time.monotonic() + 120
        while {rollout_state(c, r)[0] for r in (crashing, silent)} != {RolloutState.HALTED}:
            assert time.monotonic() < deadline, [rollout_state(c, r) for r in (crashing, silent)]
            for m in boards:
                if not m.board.process.running():
                    m.start()
            time.sleep(0.2)
        assert rollout_state(c, crashing)[1] == {"dev-1": "rolled_back", "dev-2": "pending"}
        assert rollout_state(c, silent)[1] == {"dev-3": "rolled_back", "dev-4": "pending"}
        wait_until(lambda: all(device(c, d).get("fw") == "0.1.0" for d in ids), 30, "every board on 0.1.0")
        crashed = ota_status(c, "dev-1")
        assert crashed["ota"] == "rolled_back" and "broken build" in crashed["ota_reason"], crashed
        assert "rolling back" in boards[0].board.console()
        never = ota_status(c, "dev-3")
        assert never["ota"] == "rolled_back" and never["ota_reason"] == "not healthy within 3 s", never
        console = boards[2].board.console()
        trial = console[console.index("installing 0.3.0-offline") : console.index("rolling back 0.3.")]
        assert "no route to the broker" in trial and "CRASH" not in trial, console[-3000:]
        for behind in (boards[1], boards[3]):
            assert "ota" not in behind.board.console().lower()


def test_forged_chunks_on_a_broker_without_acl_do_not_get_in(
    tmp_path: Path, influxd: InfluxDB, influx_db: str
) -> None:
    """A careless integrator's broker: dev-2's login floods dev-1's `ota/data` with answers that look
    right (protocol 1, status 0, every id, the offsets a board asks for) but carry other bytes. The
    canary ignores those that are not the answer it awaits and fetches again a file a forged chunk
    got into; what it installs is the bundle, byte for byte."""
    with chain(tmp_path, influxd, influx_db, devices=2, acl=False) as c:
        c.start_ingest(**TICK)
        boards = start_running(c, 1)
        wait_until(lambda: device(c, "dev-1").get("fw") == "0.1.0", 60, "board online")
        files = app_files()
        publish_bundle(c, "0.2.0", files)
        hostile = Recorder(c.broker.port, [], username="dev-2", password=c.passwords["dev-2"])
        rid = roll_out(c, "0.2.0", ["dev-1"], canary=1, wave="1")
        wait_until(lambda: ota_status(c, "dev-1").get("ota") == "downloading", 60, "downloading")
        forged = 0
        deadline = time.monotonic() + 20
        while rollout_state(c, rid)[0] != RolloutState.DONE:
            assert time.monotonic() < deadline, (rollout_state(c, rid), boards[0].board.console()[-3000:])
            for off in range(0, 8192, 1024):
                header = struct.pack(">BBHII", 1, 0, forged & 0xFFFF, off, 4096)
                hostile.publish("sf/dev-1/ota/data", header + bytes(1024), qos=0)
                forged += 1
            time.sleep(0.05)
        hostile.close()
        assert forged > 100
        wait_until(lambda: device(c, "dev-1").get("fw") == "0.2.0", 30, "dev-1 on 0.2.0")
        installed = {p: (boards[0].board.dir / p).read_bytes() for p in files}
        assert installed == files
