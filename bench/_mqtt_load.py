"""A load generator for the broker: many boards' QoS 1 publishes over one plain MQTT 3.1.1 socket.

Packets are encoded up front (with the firmware's own packet functions) and written in large chunks,
and a reader thread counts the PUBACKs, so the publisher costs a few microseconds per message and the
ingest, not the load generator, is what the benchmark measures. At most `window` messages are
unacknowledged at once, like a client's in-flight limit.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterable, Sequence

from firmware.sensorfleet import mqttpkt

CHUNK = 64


class LoadPublisher:
    def __init__(self, port: int, client_id: str = "bench-load", window: int = 2000, timeout_s: float = 60):
        self.window, self.timeout_s = window, timeout_s
        self.sent = self.acked = 0
        self._acks = threading.Condition()
        self._sock = socket.create_connection(("127.0.0.1", port), timeout=timeout_s)
        self._sock.sendall(mqttpkt.connect(client_id, keepalive=0))
        connack = self._recv_exact(4)
        if connack[0] >> 4 != mqttpkt.CONNACK or connack[3] != 0:
            raise RuntimeError(f"broker refused the load publisher: {connack!r}")
        self._reader = threading.Thread(target=self._read_acks, name="load-acks", daemon=True)
        self._reader.start()

    @staticmethod
    def packets(messages: Iterable[tuple[str, bytes]]) -> list[bytes]:
        """QoS 1 PUBLISH packets with packet ids 1…65535 in turn (the window keeps them unique)."""
        return [
            mqttpkt.publish(topic, payload, qos=1, pid=n % 65535 + 1)
            for n, (topic, payload) in enumerate(messages)
        ]

    def send(self, packets: Sequence[bytes]) -> None:
        """Sends every packet, in order, as fast as the window allows."""
        for start in range(0, len(packets), CHUNK):
            chunk = packets[start : start + CHUNK]
            self._wait_for_room(len(chunk))
            self._sock.sendall(b"".join(chunk))
            self.sent += len(chunk)

    def send_one(self, packet: bytes) -> None:
        self._wait_for_room(1)
        self._sock.sendall(packet)
        self.sent += 1

    def wait_acked(self) -> None:
        self._wait(lambda: self.acked >= self.sent)

    def close(self) -> None:
        try:
            self._sock.sendall(mqttpkt.DISCONNECT_PKT)
        finally:
            self._sock.close()
            self._reader.join(5)

    def _wait_for_room(self, count: int) -> None:
        self._wait(lambda: self.sent + count - self.acked <= self.window)

    def _wait(self, ready: Callable[[], bool]) -> None:
        with self._acks:
            if not self._acks.wait_for(ready, self.timeout_s):
                unacked = self.sent - self.acked
                raise TimeoutError(f"{unacked} publishes unacknowledged after {self.timeout_s}s")

    def _recv_exact(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            more = self._sock.recv(n - len(data))
            if not more:
                raise ConnectionError("broker closed the connection")
            data += more
        return data

    def _read_acks(self) -> None:
        """Every packet the broker sends a publisher that subscribes to nothing is a 4-byte PUBACK."""
        pending = b""
        while True:
            try:
                data = self._sock.recv(65536)
            except OSError:
                return
            if not data:
                return
            pending += data
            whole = len(pending) // 4
            pending = pending[whole * 4 :]
            with self._acks:
                self.acked += whole
                self._acks.notify_all()
