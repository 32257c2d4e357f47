"""Fixtures for the firmware tests: virtual boards (the real firmware on the real MicroPython unix
binary, each in its own directory = its flash) that are stopped by pid at the end of the test, and a
Mosquitto with a TLS listener whose certificate an openssl CA made in the test signed."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support.boards import Board, TlsBroker, make_board_dir, make_ca, make_server_cert

from support.mosquitto import Mosquitto, MosquittoOptions
from support.procs import free_port

# mp/ holds MicroPython test modules: run under MicroPython by test_fw_mp_units.py, not by pytest.
collect_ignore = ["mp"]


@pytest.fixture
def board_factory(tmp_path: Path, micropython: str) -> Iterator[Callable[..., Board]]:
    boards: list[Board] = []

    def make(
        config: dict[str, Any] | str | None,
        name: str = "board",
        heap: str = "128K",
        start: bool = True,
        flash_kib: int | None = None,
        entry: str = "main.py",
    ) -> Board:
        board = Board(make_board_dir(tmp_path / name, config), heap=heap, entry=entry, flash_kib=flash_kib)
        boards.append(board)
        if start:
            board.start()
        return board

    yield make
    for b in boards:
        b.kill()


@pytest.fixture
def tls_broker_factory(
    tmp_path: Path, mosquitto_factory: Callable[..., Mosquitto]
) -> Callable[..., TlsBroker]:
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make certificates")
    certs = tmp_path / "certs"
    certs.mkdir()
    ca = make_ca(certs, "ca")
    other = make_ca(certs, "other")
    make_server_cert(certs, "ca")

    def start(users: dict[str, str] | None = None) -> TlsBroker:
        port = free_port()
        broker = mosquitto_factory(
            MosquittoOptions(
                users=users or {},
                extra=f"listener {port} 127.0.0.1\ncafile {ca}\n"
                f"certfile {certs}/server.pem\nkeyfile {certs}/server.key\n",
            )
        )
        return TlsBroker(broker, port, ca, other)

    return start
