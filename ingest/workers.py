"""The intake and writer processes of `sensorfleet serve --workers N`.

Worker 0 is the serving process itself (it also runs the HTTP app); workers 1..N-1 are child processes
running the service without HTTP. All N subscribe to telemetry in one shared-subscription group, so the
broker splits the devices' messages between them; each has its own MQTT client id and its own spool
under the data dir (a worker restarted with the same number takes its spool back). What they keep
besides time series is the one state store they share, so the API of worker 0 answers for all of them.

A child that dies is started again after a second; stopping the server stops every child with SIGTERM,
which lets its writer store and acknowledge what it holds.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import threading
from multiprocessing.process import BaseProcess
from types import FrameType

from ingest.service import IngestService, freeze_startup_heap
from ingest.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_GROUP = "sensorfleet"
_RESTART_S = 1.0
_STOP_S = 30.0


def worker_settings(settings: Settings, index: int) -> Settings:
    """Worker `index`'s settings: in the share group (`sensorfleet` unless one is set), with a client id
    and a spool of its own (worker 0 keeps the process's own)."""
    changes: dict[str, object] = {"share_group": settings.share_group or DEFAULT_GROUP}
    if index:
        changes["client_id"] = f"{settings.client_id}-w{index}"
        changes["spool_dir"] = settings.data_dir / f"spool-w{index}"
    return settings.model_copy(update=changes)


def run_worker(settings: Settings) -> None:
    """A child's life: the service without HTTP, until SIGTERM or SIGINT."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stopping = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stop)
    service = IngestService(settings)
    freeze_startup_heap()
    service.start()
    log.info("worker %s started", settings.client_id)
    stopping.wait()
    service.stop()


class Workers:
    """Workers 1..count-1 as child processes, kept running until `stop`."""

    def __init__(self, settings: Settings, count: int):
        self._context = multiprocessing.get_context("spawn")  # a fresh interpreter: no threads copied
        self._settings = [worker_settings(settings, i) for i in range(1, count)]
        self._processes: list[BaseProcess | None] = [None] * len(self._settings)
        self._stopping = threading.Event()
        self._watch = threading.Thread(target=self._keep_running, name="workers", daemon=True)

    def start(self) -> None:
        for i in range(len(self._settings)):
            self._start(i)
        self._watch.start()

    def stop(self) -> None:
        self._stopping.set()
        for process in self._processes:
            if process is not None and process.is_alive():
                process.terminate()  # SIGTERM: the worker stores and acknowledges what it holds
        for process in self._processes:
            if process is not None:
                process.join(_STOP_S)
                if process.is_alive():
                    process.kill()

    def _start(self, i: int) -> None:
        process = self._context.Process(target=run_worker, args=(self._settings[i],), name=f"worker-{i + 1}")
        process.start()
        self._processes[i] = process

    def _keep_running(self) -> None:
        while not self._stopping.wait(_RESTART_S):
            for i, process in enumerate(self._processes):
                if process is not None and not process.is_alive() and not self._stopping.is_set():
                    log.error("worker %d exited (code %s): starting it again", i + 1, process.exitcode)
                    self._start(i)
