"""Start, probe and stop the processes a test owns (never anyone else's)."""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path


class MissingBinary(RuntimeError):
    """A real service the test needs is not installed."""


def find_binary(name: str, *extra_dirs: str, hint: str) -> str:
    """Path of `name` from PATH or the given dirs, or a clear failure naming what to install."""
    found = shutil.which(name, path=os.pathsep.join([*extra_dirs, os.environ.get("PATH", "")]))
    if not found:
        raise MissingBinary(f"`{name}` not found: {hint}")
    return found


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


_EPHEMERAL_LOW, _EPHEMERAL_HIGH = _ephemeral_range()
# Ports below the kernel's ephemeral range: a port taken from inside it can be handed to some client's
# outgoing connection between the moment it is chosen and the moment the server binds it.
_PORT_POOL = range(max(1024, _EPHEMERAL_LOW - 12_000), _EPHEMERAL_LOW)
_handed_out: set[int] = set()
_pick = random.Random(os.getpid() ^ time.monotonic_ns())


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A loopback port nobody holds, outside the ephemeral range, never handed out twice by this process."""
    for _ in range(200):
        port = _pick.choice(_PORT_POOL)
        if port not in _handed_out and _bindable(port):
            _handed_out.add(port)
            return port
    raise RuntimeError(f"no free loopback port in {_PORT_POOL.start}-{_PORT_POOL.stop - 1}")


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def wait_until(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


class Process:
    """One child process with its output in a log file; stopped by its own pid only."""

    def __init__(
        self, argv: Sequence[str], log: Path, cwd: Path | None = None, env: dict[str, str] | None = None
    ):
        self.argv = list(argv)
        self.log = log
        self.cwd = cwd
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def check_alive(self, what: str) -> None:
        if not self.running():
            raise RuntimeError(f"{what} exited early; its log {self.log}:\n{self.output()[-3000:]}")

    def signal(self, sig: int) -> None:
        if self.running():
            os.kill(self.pid, sig)

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL after `timeout`; returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        return self.proc.returncode

    def cpu_seconds(self, children: bool = False) -> float:
        """User + system CPU time the running process (and with `children` its live descendants) has
        used so far."""
        return sum(_cpu_seconds(pid) for pid in self._pids(children))

    def peak_rss_mb(self, children: bool = False) -> float:
        """The running process's resident-memory high-water mark; with `children`, the sum of its own
        and its live descendants' (what the whole service needed at most)."""
        return sum(_peak_rss_mb(pid) for pid in self._pids(children))

    def _pids(self, children: bool) -> list[int]:
        return [self.pid, *(_descendants(self.pid) if children else [])]

    def kill(self) -> None:
        """SIGKILL: the crash a power cut or the OOM killer causes."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def _stat(pid: int) -> list[str]:
    """/proc/PID/stat's fields after the command name (field 3 onwards)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _cpu_seconds(pid: int) -> float:
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for pid {pid}")


def _descendants(pid: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int(_stat(int(entry.name))[1])
            except (OSError, IndexError):
                continue  # exited meanwhile
    found, frontier = [], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found
