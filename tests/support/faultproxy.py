"""Loopback proxies that inject network and HTTP faults between two real services.

`TcpProxy` sits on a TCP path (a board or the ingest to Mosquitto): it forwards, black-holes (the
path goes silent without closing, as when a router dies) or cuts every connection. `HttpFaultProxy`
sits in front of InfluxDB and answers chosen requests with 503 + Retry-After, 429 or 413 instead
of passing them on.
"""

from __future__ import annotations

import select
import socket
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal

import httpx

_POLL_S = 0.1
_CHUNK = 65536

Mode = Literal["forward", "blackhole", "down"]


class _Pipe:
    """One client connection and its upstream connection, copied both ways in a thread."""

    def __init__(self, client: socket.socket, upstream: socket.socket, silent: bool):
        self.client = client
        self.upstream = upstream
        self.silent = silent
        self.closed = threading.Event()

    def run(self) -> None:
        ends = [self.client, self.upstream]
        try:
            while not self.closed.is_set():
                readable, _, _ = select.select(ends, [], [], _POLL_S)
                for end in readable:
                    data = end.recv(_CHUNK)
                    if not data:
                        return
                    if not self.silent:  # a black hole swallows what it is sent
                        (self.upstream if end is self.client else self.client).sendall(data)
        except OSError:
            return
        finally:
            self.close()

    def close(self) -> None:
        self.closed.set()
        for end in (self.client, self.upstream):
            end.close()


class TcpProxy:
    """`127.0.0.1:<port>` → `host:target_port`, with faults switched on and off by the test."""

    def __init__(self, target_port: int, host: str = "127.0.0.1"):
        self.target = (host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(_POLL_S)
        self.port: int = self._listener.getsockname()[1]
        self.mode: Mode = "forward"
        self.accepted = 0
        self._pipes: list[_Pipe] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            if self.mode == "down":
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            pipe = _Pipe(client, upstream, silent=self.mode == "blackhole")
            with self._lock:
                self._pipes = [p for p in self._pipes if not p.closed.is_set()] + [pipe]
            threading.Thread(target=pipe.run, daemon=True).start()

    def open_connections(self) -> int:
        with self._lock:
            return sum(not p.closed.is_set() for p in self._pipes)

    def blackhole(self) -> None:
        """Every connection, open or new, stays open and carries nothing."""
        self.mode = "blackhole"
        with self._lock:
            for pipe in self._pipes:
                pipe.silent = True

    def down(self) -> None:
        """Every open connection is closed, and new ones are closed as soon as they arrive."""
        self.mode = "down"
        with self._lock:
            for pipe in self._pipes:
                pipe.close()

    def restore(self) -> None:
        """New connections are forwarded again; a black-holed one stays silent until an end gives up."""
        self.mode = "forward"

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._listener.close()
        with self._lock:
            for pipe in self._pipes:
                pipe.close()


@dataclass(frozen=True)
class Fault:
    status: int
    headers: dict[str, str] = field(default_factory=dict)


class HttpFaultProxy:
    """A loopback HTTP server in front of `upstream`: queued faults answer the next `/write`
    requests; everything else is passed on unchanged."""

    def __init__(self, upstream: str):
        self.upstream = httpx.Client(base_url=upstream, timeout=30)
        self.faults: deque[Fault] = deque()
        self.served: list[int] = []
        """Status of every `/write` answered, faults and forwarded alike, in order."""
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                proxy._handle(self)

            def do_POST(self) -> None:
                proxy._handle(self)

            def log_message(self, format: str, *args: object) -> None:
                pass  # the test reads `served`, not a log on stderr

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(_POLL_S,), daemon=True)
        self._thread.start()

    def inject(self, fault: Fault, times: int = 1) -> None:
        with self._lock:
            self.faults.extend([fault] * times)

    def pending_faults(self) -> int:
        with self._lock:
            return len(self.faults)

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        is_write = request.path.split("?")[0].endswith("/write")
        fault = None
        with self._lock:
            if is_write and self.faults:
                fault = self.faults.popleft()
        if fault is not None:
            self._answer(request, fault.status, fault.headers, b'{"error":"injected fault"}')
        else:
            headers = {
                k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")
            }
            r = self.upstream.request(request.command, request.path, content=body, headers=headers)
            keep = {k: v for k, v in r.headers.items() if k.lower() == "content-type"}
            self._answer(request, r.status_code, keep, r.content)
            fault = Fault(r.status_code)
        if is_write:
            with self._lock:
                self.served.append(fault.status)

    @staticmethod
    def _answer(request: BaseHTTPRequestHandler, status: int, headers: dict[str, str], body: bytes) -> None:
        request.send_response(status)
        for key, value in headers.items():
            request.send_header(key, value)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self.upstream.close()
