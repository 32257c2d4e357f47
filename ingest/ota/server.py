"""Answers boards' chunk requests (`<prefix>/<device>/ota/req`) on their `ota/data`, in a thread of its
own with a bounded queue, so the MQTT client's thread never waits for the state store. A device gets
the chunks of a version only while a running rollout has offered it that version (the topic's device
id is the one the broker's ACL let publish there)."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

from ingest.contract import OTA_DATA_SUFFIX, device_topic
from ingest.metrics import Metrics
from ingest.ota.bundle import Bundle
from ingest.ota.chunks import answer
from ingest.ota.store import FirmwareStore, RolloutStore

log = logging.getLogger(__name__)

OFFER_CACHE_S = 5.0
"""How long a device's right to a version is remembered (a download asks hundreds of times)."""


class ChunkServer:
    def __init__(
        self,
        firmware: FirmwareStore,
        rollouts: RolloutStore,
        publish: Callable[[str, bytes, int], None],
        metrics: Metrics,
        prefix: str = "sf",
        queue_size: int = 1000,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.firmware, self.rollouts, self.publish, self.metrics = firmware, rollouts, publish, metrics
        self.prefix, self.clock = prefix, clock
        self._queue: queue.Queue[tuple[str, bytes] | None] = queue.Queue(queue_size)
        self._offers: dict[tuple[str, str], tuple[float, bool]] = {}
        self._thread = threading.Thread(target=self._run, name="ota-chunks", daemon=True)

    def submit(self, device: str, payload: bytes) -> None:
        """From the MQTT client's thread: never blocks (a board asks again when no answer comes)."""
        try:
            self._queue.put_nowait((device, payload))
        except queue.Full:
            self.metrics.add("ota_requests_dropped")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(10)

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            device, payload = item
            try:
                self.serve(device, payload)
            except Exception:  # the state store unreachable, say: the board asks again
                log.exception("answering a chunk request from %s failed", device)
                self.metrics.add("ota_requests_failed")

    def serve(self, device: str, payload: bytes) -> None:
        reply = answer(payload, lambda version: self._offered(device, version), self.firmware.read_file)
        self.publish(device_topic(self.prefix, device, OTA_DATA_SUFFIX), reply.payload, 0)
        if reply.refused is None:
            self.metrics.add("ota_chunks_sent")
        else:
            self.metrics.add("ota_requests_refused")
            log.info("chunk request from %s refused: %s", device, reply.refused)

    def _offered(self, device: str, version: str) -> Bundle | None:
        now, key = self.clock(), (device, version)
        cached = self._offers.get(key)
        if cached is None or now - cached[0] > OFFER_CACHE_S:
            if len(self._offers) > 10_000:
                self._offers.clear()
            cached = self._offers[key] = (now, self.rollouts.offered(device, version))
        return self.firmware.get(version) if cached[1] else None
