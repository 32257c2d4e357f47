"""The whole chain as real processes: virtual boards running the real firmware → Mosquitto with the
provisioned password file and ACL, persistence on → `sensorfleet serve` → InfluxDB 1.x.

The ledger is what the boards themselves account for: a board configured with `stop_after = n`
takes exactly n readings in a boot, numbered (boot, 0..n-1), and exits by itself only once every
one of them was acknowledged by the broker. `Chain.verify` then requires that InfluxDB holds
exactly those readings (no gap, no extra point, the same timestamp once per reading) and that the
registry's completeness figures, read through the API, say the same.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from ingest.provision.boardconfig import BoardSettings
from ingest.provision.ids import INGEST_USERNAME
from ingest.provision.inventory import Inventory
from ingest.provision.provisioning import add_device
from ingest.provision.virtual import LITTLEFS_KIB
from ingest.state.migrate import open_state
from support.boards import Board, board_config, make_board_dir
from support.faultproxy import TcpProxy
from support.influx import InfluxDB
from support.mosquitto import Mosquitto, MosquittoOptions
from support.serve import ServeProcess

MEASUREMENT = "telemetry"
DROPPED = "dropped"
"""Mosquitto's notice when a client's queue overflows ("Outgoing messages are being dropped")."""


class Ingest(ServeProcess):
    """`sensorfleet serve` with the ingest's broker login, an InfluxDB and a client id of its own."""

    def __init__(self, workdir: Path, mqtt_url: str, env: dict[str, str]):
        super().__init__(workdir, {"SENSORFLEET_MQTT_URL": mqtt_url, **env})

    def devices(self) -> dict[str, dict[str, Any]]:
        r = self.http.get("/api/v1/devices")
        r.raise_for_status()
        return {d["id"]: d for d in r.json()["devices"]}

    def assert_serving(self) -> None:
        """Running without a traceback, ready, and the device list and every device's page answer 200
        within a second each."""
        assert self.process.running() and "Traceback" not in self.process.output()
        ready = self.http.get("/readyz")
        assert ready.status_code == 200, ready.text
        started = time.monotonic()
        listing = self.http.get("/api/v1/devices")
        assert listing.status_code == 200 and time.monotonic() - started < 1, listing.text[:500]
        for device in listing.json()["devices"]:
            started = time.monotonic()
            page = self.http.get(f"/api/v1/devices/{device['id']}")
            assert page.status_code == 200 and time.monotonic() - started < 1, page.text[:500]


@dataclass
class ChainBoard:
    device_id: str
    board: Board
    proxy: TcpProxy | None
    readings: int
    ledger: dict[int, int] = field(default_factory=dict)
    """boot → readings taken in that boot, numbered 0..n-1."""

    def start(self) -> None:
        self.board.start()

    def boot(self) -> int:
        """The boot the board last reported on its console (its flash may be a littlefs image)."""
        return self.board.stats()["boot"]

    def wait_done(self, timeout: float) -> None:
        """Waits until the board has had every reading acknowledged and exited by itself."""
        code = self.board.wait_exit(timeout)
        assert code == 0, f"{self.device_id} exited {code}:\n{self.board.console()[-3000:]}"
        final = self.board.stats()
        assert final["acked"] >= final["samples"] == self.readings, final
        self.ledger[self.boot()] = self.readings

    def sent(self) -> int:
        return sum(self.ledger.values())


@dataclass
class Stored:
    """The telemetry points InfluxDB holds for one device: (timestamp ms, seq), in time order."""

    points: list[tuple[int, int]]

    def seqs(self) -> list[int]:
        return [seq for _, seq in self.points]


class Chain:
    """Provisioned devices, a locked broker with persistence, and the ingests and boards a scenario adds."""

    def __init__(
        self,
        root: Path,
        influx: InfluxDB,
        db: str,
        devices: int = 3,
        broker_extra: str = "",
        acl: bool = True,
    ):
        self.root = root
        self.influx = influx
        self.db = db
        self.site = root / "site"
        self.passwords: dict[str, str] = {}
        files = None
        inventory = Inventory(open_state(self.site))
        for i in range(devices):
            device, files = add_device(inventory, self.site, BoardSettings(device_id=f"dev-{i + 1}"))
            self.passwords[device.id] = device.config["mqtt"]["password"]
        assert files is not None
        self.broker_files = files
        self.ingest_password = inventory.login(INGEST_USERNAME).password
        # Without the ACL every login may publish on any topic: a careless integrator's broker.
        acl_line = f"acl_file {files.acl}\n" if acl else ""
        extra = f"allow_anonymous false\npassword_file {files.passwd}\n{acl_line}{broker_extra}"
        self.broker = Mosquitto(root / "mosquitto", MosquittoOptions(persistence=True, extra=extra))
        self.ingests: list[Ingest] = []
        self.boards: list[ChainBoard] = []
        self.proxies: list[TcpProxy] = []

    @property
    def ingest_url(self) -> str:
        return f"mqtt://{INGEST_USERNAME}:{self.ingest_password}@127.0.0.1:{self.broker.port}"

    def start_ingest(self, influx_url: str | None = None, **env: str) -> Ingest:
        n = len(self.ingests)
        workdir = self.root / f"ingest-{n}"
        workdir.mkdir(parents=True, exist_ok=True)
        settings = {
            "SENSORFLEET_CLIENT_ID": f"ingest-{n}",
            "SENSORFLEET_INFLUX_URL": influx_url or self.influx.url,
            "SENSORFLEET_INFLUX_DB": self.db,
            **env,
        }
        ingest = Ingest(workdir, self.ingest_url, settings)
        self.ingests.append(ingest)
        ingest.start()
        return ingest

    def add_board(
        self, device_id: str, readings: int, via_proxy: bool = False, littlefs: bool = False, **config: Any
    ) -> ChainBoard:
        """`littlefs`: the board's flash is a littlefs image with 4 KiB blocks, as on an ESP32."""
        proxy = TcpProxy(self.broker.port) if via_proxy else None
        if proxy is not None:
            self.proxies.append(proxy)
        port = proxy.port if proxy is not None else self.broker.port
        mqtt = {"user": device_id, "password": self.passwords[device_id], **config.pop("mqtt", {})}
        cfg = board_config(
            port, device_id, mqtt=mqtt, **{"interval_s": 0.01, **config, "stop_after": readings}
        )
        board = Board(
            make_board_dir(self.root / "boards" / device_id, cfg),
            flash_kib=LITTLEFS_KIB if littlefs else None,
        )
        member = ChainBoard(device_id, board, proxy, readings)
        self.boards.append(member)
        return member

    def add_boards(self, readings: int, **config: Any) -> None:
        """One board per provisioned device not yet on the chain."""
        taken = {m.device_id for m in self.boards}
        for device_id in self.passwords:
            if device_id not in taken:
                self.add_board(device_id, readings, **config)

    def sent(self) -> int:
        return sum(m.sent() for m in self.boards)

    def start_boards(self) -> None:
        for member in self.boards:
            member.start()

    def wait_boards(self, timeout: float) -> None:
        for member in self.boards:
            member.wait_done(timeout)

    # -- reading back ------------------------------------------------------------------------
    def stored(self) -> dict[str, Stored]:
        series = self.influx.query(f'SELECT "seq" FROM "{MEASUREMENT}" GROUP BY "device"', db=self.db)
        return {
            s["tags"]["device"]: Stored(sorted((int(t), int(seq)) for t, seq in s["values"])) for s in series
        }

    def stored_total(self) -> int:
        return sum(len(s.points) for s in self.stored().values())

    def wait_drained(self, expected: int, timeout: float) -> None:
        """Until InfluxDB holds `expected` points and every ingest's writer and spool are empty."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.stored_total() >= expected and all(_idle(i) for i in self.running_ingests()):
                return
            time.sleep(0.25)
        raise AssertionError(f"{self.stored_total()} of {expected} points stored after {timeout:.0f}s")

    def running_ingests(self) -> list[Ingest]:
        return [i for i in self.ingests if i.process.running()]

    def verify(self, others: bool = False, shared_state: bool = False) -> dict[str, int]:
        """The database and the registry against the boards' ledger; returns counts for a report.

        `others`: devices that are not boards of the chain (a test's own publisher) may have points too.
        `shared_state`: the ingests share one state store, so each one's registry must hold the whole
        ledger, not a share of it."""
        stored = self.stored()
        expected_devices = {m.device_id for m in self.boards}
        found = set(stored) & expected_devices if others else set(stored)
        assert found == expected_devices, f"devices in InfluxDB: {sorted(stored)}"
        duplicates = 0
        for member in self.boards:
            seqs = stored[member.device_id].seqs()
            # Each boot numbers its readings from 0; InfluxDB keeps the seq, not the boot.
            expected = sorted(s for n in member.ledger.values() for s in range(n))
            assert sorted(seqs) == expected, _gap_report(member.device_id, seqs, expected)
            stamps = [t for t, _ in stored[member.device_id].points]
            assert len(set(stamps)) == len(stamps)
        registries = [i.devices() for i in self.running_ingests()]
        if shared_state:
            for registry in registries:
                for member in self.boards:
                    n = registry[member.device_id]["completeness"]
                    assert (n["received"] - n["duplicates"], n["missing"]) == (member.sent(), 0), n
            duplicates = (
                registries[0][self.boards[0].device_id]["completeness"]["duplicates"] if registries else 0
            )
            assert DROPPED not in self.broker.log().lower(), self.broker.log()[-3000:]
            return {"stored": sum(len(s.points) for s in stored.values()), "duplicates": duplicates}
        # Each ingest process counts what it received; on a shared subscription each sees a part, so
        # the figures are summed and only a lone process can name missing readings.
        for member in self.boards:
            counts = [r[member.device_id]["completeness"] for r in registries if member.device_id in r]
            received = sum(n["received"] - n["duplicates"] for n in counts)
            assert received == member.sent(), counts
            if len(registries) == 1:
                assert counts[0]["missing"] == 0, counts
            duplicates += sum(n["duplicates"] for n in counts)
        assert DROPPED not in self.broker.log().lower(), self.broker.log()[-3000:]
        return {"stored": sum(len(s.points) for s in stored.values()), "duplicates": duplicates}

    def close(self) -> None:
        for member in self.boards:
            member.board.stop()
        for ingest in self.ingests:
            ingest.close()
        for proxy in self.proxies:
            proxy.close()
        self.broker.stop()


def _idle(ingest: Ingest) -> bool:
    try:
        m = ingest.metrics()
    except httpx.HTTPError:
        return False
    return m.get("sensorfleet_writer_pending", 0) == 0 and m.get("sensorfleet_spool_batches", 0) == 0


def _gap_report(device: str, got: list[int], expected: list[int]) -> str:
    have, want = set(got), set(expected)
    extra = len(got) - len(have)
    return (
        f"{device}: {len(got)} stored, {len(expected)} expected; missing seqs {sorted(want - have)[:20]}, "
        f"foreign seqs {sorted(have - want)[:20]}, {extra} stored more than once"
    )


@contextmanager
def chain(
    root: Path, influx: InfluxDB, db: str, devices: int = 3, broker_extra: str = "", acl: bool = True
) -> Iterator[Chain]:
    """A started broker and nothing else yet; every process the chain started is stopped at the end."""
    c = Chain(root, influx, db, devices, broker_extra, acl)
    c.broker.start()
    try:
        yield c
    finally:
        c.close()
