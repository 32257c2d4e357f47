"""A Server-Sent Events reader for tests: reads a stream in a thread and timestamps every event."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from support.procs import wait_until


@dataclass(frozen=True)
class Received:
    kind: str
    data: dict[str, Any]
    at: float
    """time.monotonic() when it was read"""


class SseReader:
    def __init__(self, url: str, token: str, params: dict[str, str] | None = None):
        self.events: list[Received] = []
        self.connected = threading.Event()
        self._lock = threading.Lock()
        self._client = httpx.Client(
            headers={"Authorization": f"Bearer {token}"}, timeout=httpx.Timeout(5, read=30)
        )
        self._response = self._client.send(self._client.build_request("GET", url, params=params), stream=True)
        self._response.raise_for_status()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        wait_until(self.connected.is_set, 10, "the stream's first line")

    def _read(self) -> None:
        kind, data = "message", b""
        try:
            for line in self._response.iter_lines():
                if line.startswith(":"):
                    self.connected.set()
                elif line.startswith("event:"):
                    kind = line[6:].strip()
                elif line.startswith("data:"):
                    data += line[5:].strip().encode()
                elif not line and data:
                    with self._lock:
                        self.events.append(Received(kind, orjson.loads(data), time.monotonic()))
                    kind, data = "message", b""
        except httpx.HTTPError:
            pass  # closed by the test

    def snapshot(self) -> list[Received]:
        with self._lock:
            return list(self.events)

    def wait_for(self, match: Any, timeout: float, what: str) -> Received:
        found: list[Received] = []

        def seen() -> bool:
            found[:] = [e for e in self.snapshot() if match(e)]
            return bool(found)

        wait_until(seen, timeout, what, interval=0.01)
        return found[0]

    def close(self) -> None:
        # Closing the response from this thread would wait for the reader's blocked read; shutting the
        # socket down ends that read at once, and the server sees the client go.
        sock = self._response.extensions["network_stream"].get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(10)
        self._response.close()
        self._client.close()
