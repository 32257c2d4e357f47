"""Sockets are closed when a connection ends, not when the garbage collector gets to them: 200
connections through the firmware's transport with the collector off, and 200 refused reconnects of a
virtual board, plain and TLS, leave the board's open descriptors where they started."""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
from collections.abc import Callable

import pytest
from support.boards import FIRMWARE, Board, TlsBroker, board_config

from support.micropython import run_snippet
from support.mosquitto import Mosquitto, MosquittoOptions
from support.procs import wait_until

ROUNDS = 200

TRANSPORT = """
import sys, gc, os, asyncio
sys.path[:0] = [{firmware!r}]
from sensorfleet.transport import StreamTransport, make_tls
gc.disable()
async def go():
    tls = make_tls({ca!r}) if {ca!r} else None
    before = len(os.listdir('/proc/self/fd'))
    for i in range({rounds}):
        t = StreamTransport('127.0.0.1', {port}, tls)
        await t.open()
        t.close()
    print('fds', before, len(os.listdir('/proc/self/fd')))
asyncio.run(go())
"""


def fds_before_after(port: int, ca: str | None = None) -> tuple[int, int]:
    code = TRANSPORT.format(firmware=str(FIRMWARE), port=port, ca=ca, rounds=ROUNDS)
    out = run_snippet(code, heap="32M", timeout=120)  # room for 200 connections with the collector off
    m = re.search(r"fds (\d+) (\d+)", out)
    assert m, out
    return int(m[1]), int(m[2])


def test_transport_close_frees_the_socket_and_the_peer_sees_it_at_once() -> None:
    server = socket.create_server(("127.0.0.1", 0))
    eofs = []

    def serve() -> None:
        for _ in range(ROUNDS):
            conn, _ = server.accept()
            with conn:
                conn.settimeout(5)
                eofs.append(conn.recv(1) == b"")  # a FIN, not a timeout

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    before, after = fds_before_after(server.getsockname()[1])
    t.join(30)
    server.close()
    assert after == before
    assert len(eofs) == ROUNDS and all(eofs)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_tls_transport_close_frees_the_socket(tls_broker_factory: Callable[..., TlsBroker]) -> None:
    tb = tls_broker_factory()
    before, after = fds_before_after(tb.tls_port, str(tb.ca))
    assert after == before


def reconnects(board: Board) -> int:
    return len(re.findall(r"^mqtt: connection refused: .*; reconnecting", board.console(), re.M))


def open_fds(board: Board) -> int:
    return len(os.listdir(f"/proc/{board.process.pid}/fd"))


def watch_200_refused_reconnects(board: Board) -> list[int]:
    board.start()
    wait_until(lambda: reconnects(board) >= 5, 30, "first refused connections")
    seen = [open_fds(board)]
    while reconnects(board) < ROUNDS:
        seen.append(open_fds(board))
        wait_until(lambda n=reconnects(board): reconnects(board) > n, 30, "the next reconnect")
    seen.append(open_fds(board))
    return seen


FAST = {"backoff_min_s": 0.01, "backoff_max_s": 0.02, "user": "dev-1", "password": "wrong"}


def test_200_refused_reconnects_keep_the_descriptors_constant(
    mosquitto_factory: Callable[..., Mosquitto], board_factory: Callable[..., Board]
) -> None:
    broker = mosquitto_factory(MosquittoOptions(users={"dev-1": "right"}))
    board = board_factory(board_config(broker.port, mqtt=FAST), start=False)
    seen = watch_200_refused_reconnects(board)
    assert max(seen) - min(seen) <= 1, seen  # at most the one socket of an attempt under way


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_200_refused_tls_reconnects_keep_the_descriptors_constant(
    tls_broker_factory: Callable[..., TlsBroker], board_factory: Callable[..., Board]
) -> None:
    tb = tls_broker_factory(users={"dev-1": "right"})
    mq = {**FAST, "port": tb.tls_port, "tls": True, "ca": "ca.pem"}
    board = board_factory(board_config(tb.tls_port, mqtt=mq), start=False)
    shutil.copy(tb.ca, board.dir / "ca.pem")
    seen = watch_200_refused_reconnects(board)
    assert max(seen) - min(seen) <= 1, seen
