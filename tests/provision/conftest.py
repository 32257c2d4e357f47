"""Fixtures for the provisioning tests."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from provision_kit import ReplBridge

from support.procs import wait_until


@pytest.fixture
def repl_bridge(tmp_path: Path, micropython: str) -> Iterator[ReplBridge]:
    fsdir = tmp_path / "board-fs"
    fsdir.mkdir()
    bridge = ReplBridge(fsdir, micropython)
    yield bridge
    bridge.close()
    wait_until(bridge.idle, 10, "the virtual board's REPL to exit")


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A TCP port that accepts and then says nothing, like a serial port with no board behind it."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.1)
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(5)
    for conn in held:
        conn.close()
    server.close()
