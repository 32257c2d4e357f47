"""`sensorfleet serve`: intake, writer and the HTTP app, until SIGTERM or Ctrl-C; with `--workers N`,
N-1 more intake and writer processes beside it (`ingest.workers`)."""

from __future__ import annotations

import logging
import signal
from types import FrameType
from typing import Annotated

import typer
import uvicorn

from ingest.app import build_app
from ingest.cli_options import cli_errors, settings_flags
from ingest.service import IngestService, freeze_startup_heap
from ingest.settings import Settings
from ingest.workers import Workers, worker_settings

log = logging.getLogger(__name__)


@cli_errors
@settings_flags()
def serve(
    settings: Settings,
    workers: Annotated[
        int,
        typer.Option(
            min=1, max=64, help="intake and writer processes on a shared subscription (external broker)"
        ),
    ] = 1,
) -> None:
    """Receive device messages over MQTT, store them, serve health, metrics and the API."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for chatty in ("httpx", "amqtt", "transitions"):  # a line per request or state change is noise
        logging.getLogger(chatty).setLevel(logging.WARNING)
    if workers > 1 and settings.mqtt_url is None:
        log.warning("the embedded broker has no shared subscriptions: running 1 worker, not %d", workers)
        workers = 1
    if workers > 1:
        settings = worker_settings(settings, 0)
    service = IngestService(settings)
    app = build_app(service)
    children = Workers(settings, workers)
    freeze_startup_heap()
    service.start()
    children.start()
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=settings.http_host,
            port=settings.http_port,
            log_level="warning",
            # Event streams stay open until the client leaves: without a bound, SIGTERM would wait for them.
            timeout_graceful_shutdown=5,
        )
    )

    def stop_serving(signum: int, frame: FrameType | None) -> None:
        server.should_exit = True

    # uvicorn re-raises the signal that stopped it once it is done; with this handler in place that
    # ends the server instead of the process, so the writer still flushes and acknowledges below.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stop_serving)
    try:
        server.run()
    finally:
        log.info("stopping: flushing what is buffered")
        children.stop()
        service.stop()
