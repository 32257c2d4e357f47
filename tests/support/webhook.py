"""A real HTTP webhook receiver on a free loopback port, in a thread: it records what it is sent and
answers as told (`accept`, `fail` with 500, `hang` past any client's timeout, or `garble`: `garbage`
instead of an HTTP status line, as a broken or hostile receiver might)."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

import orjson

Mode = Literal["accept", "fail", "hang", "garble"]


class WebhookReceiver:
    def __init__(self, mode: Mode = "accept", garbage: bytes = b"") -> None:
        self.mode: Mode = mode
        self.garbage = garbage
        self.received: list[dict[str, Any]] = []
        self.attempts = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._lock:
                    receiver.attempts += 1
                    mode = receiver.mode
                if mode == "hang":
                    time.sleep(30)
                    return
                if mode == "garble":
                    self.wfile.write(receiver.garbage + b"\r\n\r\n")
                    return
                if mode == "fail":
                    self.send_response(500)
                    self.end_headers()
                    return
                with receiver._lock:
                    receiver.received.append(orjson.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def statuses(self) -> list[tuple[str, str, str]]:
        """(status, alertname, device) of each notification received, in order."""
        with self._lock:
            return [
                (
                    n["status"],
                    n["alerts"][0]["labels"]["alertname"],
                    n["alerts"][0]["labels"].get("device", ""),
                )
                for n in self.received
            ]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
