"""`sensorfleet serve`: intake, writer and the HTTP app in one process, until SIGTERM or Ctrl-C."""

from __future__ import annotations

import logging
import signal
from types import FrameType

import uvicorn

from ingest.app import build_app
from ingest.cli_options import cli_errors, settings_flags
from ingest.service import IngestService
from ingest.settings import Settings

log = logging.getLogger(__name__)


@cli_errors
@settings_flags()
def serve(settings: Settings) -> None:
    """Receive device messages over MQTT, store them, serve health, metrics and the API."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for chatty in ("httpx", "amqtt", "transitions"):  # a line per request or state change is noise
        logging.getLogger(chatty).setLevel(logging.WARNING)
    service = IngestService(settings)
    app = build_app(service)
    service.start()
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
        service.stop()
