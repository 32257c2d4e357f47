"""A MicroPython board's raw REPL over a serial port or `socket://host:port`: the only module that
uses mpremote.

mpremote's transport is used as a library so that one connection carries a whole deploy; the
board is never soft-reset on connect (a soft reset would end a unix-port board), only on `reset()`.
"""

from __future__ import annotations

import ast
import logging
import socket
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import serial
from mpremote.transport import TransportError
from mpremote.transport_serial import SerialTransport

from ingest.errors import DeviceError

log = logging.getLogger(__name__)

_CHUNK = 1024
_EXEC_TIMEOUT_S = 30

_INFO = "import sys\nprint(repr((sys.implementation.name, tuple(sys.implementation.version), "
_INFO += "getattr(sys.implementation, '_mpy', 0), sys.platform)))"

_SHA256 = """
import hashlib, binascii
def _h(p):
    h = hashlib.sha256()
    b = bytearray(512)
    with open(p, 'rb') as f:
        while True:
            n = f.readinto(b)
            if not n:
                break
            h.update(b[:n])
    return binascii.hexlify(h.digest()).decode()
r = {}
for p in %r:
    try:
        r[p] = _h(p)
    except OSError:
        r[p] = None
print(repr(r))
"""

_RESET = """
import machine
getattr(machine, 'reset', None) and machine.reset()
machine.soft_reset()
"""


@dataclass(frozen=True)
class BoardInfo:
    implementation: str
    version: tuple[int, ...]
    mpy: int
    platform: str

    def version_text(self) -> str:
        return ".".join(str(part) for part in self.version[:3])


class Board:
    """One open raw-REPL session; use as a context manager so the port is always released."""

    def __init__(self, port: str, connect_timeout: float = 10):
        self.port = port
        try:
            self._transport: Any = SerialTransport(port, baudrate=115200)
        except (TransportError, serial.SerialException, OSError, ValueError) as e:
            raise DeviceError(f"cannot open {port}: {_reason(e)}") from e
        _no_delay(self._transport.serial)
        try:
            self._transport.enter_raw_repl(soft_reset=False, timeout_overall=connect_timeout)
        except (TransportError, serial.SerialException, OSError) as e:
            self.close()
            raise DeviceError(f"no MicroPython board answering on {port}") from e

    def __enter__(self) -> Board:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        try:
            if self._transport.in_raw_repl:
                self._transport.exit_raw_repl()
            self._transport.close()
        except (TransportError, serial.SerialException, OSError) as e:
            log.debug("closing %s: %s", self.port, e)

    def exec(self, code: str, timeout: float = _EXEC_TIMEOUT_S) -> str:
        """Runs `code` on the board; returns what it printed. A board-side exception raises DeviceError."""
        try:
            out, err = self._transport.exec_raw(code, timeout=timeout)
        except (TransportError, serial.SerialException, OSError) as e:
            raise DeviceError(f"{self.port}: lost the board: {_reason(e)}") from e
        if err:
            raise DeviceError(f"{self.port}: board raised {_reason(err.decode(errors='replace'))}")
        return str(out.decode(errors="replace"))

    def eval_literal(self, code: str) -> Any:
        """Runs `code`, which prints one Python literal, and returns that literal."""
        out = self.exec(code)
        try:
            return ast.literal_eval(out.strip())
        except (ValueError, SyntaxError) as e:
            raise DeviceError(f"{self.port}: unexpected answer from the board: {out.strip()[:200]!r}") from e

    def info(self) -> BoardInfo:
        name, version, mpy, platform = self.eval_literal(_INFO)
        return BoardInfo(name, tuple(version), mpy, platform)

    def write_file(self, path: str, data: bytes) -> None:
        self.exec(f"f=open({path!r},'wb')\nw=f.write")
        for start in range(0, len(data), _CHUNK):
            self.exec(f"w({data[start : start + _CHUNK]!r})")
        self.exec("f.close()\ndel f, w")

    def sha256(self, paths: list[str]) -> dict[str, str | None]:
        """sha256 hex digest of each file as the board reads it back (None where it is missing)."""
        result: dict[str, str | None] = self.eval_literal(_SHA256 % (paths,))
        return result

    def reset(self) -> None:
        """Hard-resets the board (soft reset where there is no hard reset) and closes the session."""
        try:
            self._transport.exec_raw_no_follow(_RESET)
        except (TransportError, serial.SerialException, OSError) as e:
            raise DeviceError(f"{self.port}: could not reset the board: {_reason(e)}") from e
        finally:
            self._transport.in_raw_repl = False
            self.close()


def _no_delay(port: Any) -> None:
    """Turns Nagle's algorithm off on a `socket://` port. The raw REPL is a stream of small
    request/answer exchanges, each of which otherwise waits out a delayed ACK (~40 ms on Linux);
    pyserial leaves the option alone and keeps its socket private."""
    sock = getattr(port, "_socket", None)
    if isinstance(sock, socket.socket):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _reason(e: BaseException | str) -> str:
    """The last line of an error (a board traceback ends with the exception itself)."""
    text = str(e).strip()
    return text.splitlines()[-1] if text else type(e).__name__
