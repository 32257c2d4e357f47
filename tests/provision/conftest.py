"""A virtual board's REPL on a loopback TCP port, for deploying to it with mpremote (`socket://`)."""

from __future__ import annotations

import os
import pty
import select
import socket
import subprocess
import threading
import tty
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.procs import wait_until

_POLL_S = 0.1


class ReplBridge:
    """Like `socat TCP-LISTEN:PORT,fork EXEC:micropython,pty,rawer`: every connection gets a fresh
    unix-port `micropython` REPL on a pty, started in `fsdir`, which is the board's filesystem.

    `drop()` kills the board in the middle of whatever it is doing: the host sees the port vanish.
    """

    def __init__(self, fsdir: Path, binary: str):
        self.fsdir = fsdir
        self.binary = binary
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(_POLL_S)
        self.port = self._listener.getsockname()[1]
        self.url = f"socket://127.0.0.1:{self.port}"
        self.sessions = 0
        self._child: subprocess.Popen[bytes] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            with conn:
                self._session(conn)

    def _session(self, conn: socket.socket) -> None:
        master, slave = pty.openpty()
        tty.setraw(slave)
        child = subprocess.Popen(
            [self.binary], cwd=self.fsdir, stdin=slave, stdout=slave, stderr=slave, start_new_session=True
        )
        os.close(slave)
        self._child = child
        self.sessions += 1
        try:
            while not self._stop.is_set():
                ready, _, _ = select.select([conn, master], [], [], _POLL_S)
                if conn in ready:
                    data = conn.recv(4096)
                    if not data:
                        return
                    os.write(master, data)
                if master in ready:
                    try:
                        data = os.read(master, 4096)
                    except OSError:  # EIO: the board's process is gone
                        return
                    if not data:
                        return
                    conn.sendall(data)
                elif child.poll() is not None:
                    return
        finally:
            os.close(master)
            self._end(child)

    @staticmethod
    def _end(child: subprocess.Popen[bytes]) -> None:
        if child.poll() is None:
            child.kill()
        child.wait(10)

    def drop(self) -> None:
        """The board disappears (power cut, cable pulled)."""
        child = self._child
        if child is not None:
            self._end(child)

    def idle(self) -> bool:
        return self._child is None or self._child.poll() is not None

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self._listener.close()
        self.drop()


@pytest.fixture
def repl_bridge(tmp_path: Path, micropython: str) -> Iterator[ReplBridge]:
    fsdir = tmp_path / "board-fs"
    fsdir.mkdir()
    bridge = ReplBridge(fsdir, micropython)
    yield bridge
    bridge.close()
    wait_until(bridge.idle, 10, "the virtual board's REPL to exit")
