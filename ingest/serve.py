"""`sensorfleet serve`: intake, writer and the HTTP app in one process, until SIGTERM or Ctrl-C."""

from __future__ import annotations

import logging
import signal
from types import FrameType

import typer
import uvicorn

from ingest.app import IngestService
from ingest.errors import ConfigError
from ingest.service_flags import (
    BrokerPort,
    ConfigFile,
    DataDir,
    HttpHost,
    HttpPort,
    InfluxApi,
    InfluxDb,
    InfluxToken,
    InfluxUrl,
    MqttPasswordFile,
    MqttUrl,
    ShareGroup,
    TopicPrefix,
    settings_from_flags,
)
from ingest.web import build_http_app

log = logging.getLogger(__name__)


def serve(
    mqtt_url: MqttUrl = None,
    mqtt_password_file: MqttPasswordFile = None,
    influx_url: InfluxUrl = None,
    influx_db: InfluxDb = None,
    influx_api: InfluxApi = None,
    influx_token: InfluxToken = None,
    topic_prefix: TopicPrefix = None,
    data_dir: DataDir = None,
    http_host: HttpHost = None,
    http_port: HttpPort = None,
    share_group: ShareGroup = None,
    broker_port: BrokerPort = None,
    config: ConfigFile = None,
) -> None:
    """Receive device messages over MQTT, store them, serve health, metrics and the API."""
    flags = dict(locals())  # first: the parameters, before any other local exists
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for chatty in ("httpx", "amqtt", "transitions"):  # a line per request or state change is noise
        logging.getLogger(chatty).setLevel(logging.WARNING)
    try:
        settings = settings_from_flags(flags)
        service = IngestService(settings)
        app = build_http_app(service)
        service.start()
    except ConfigError as e:
        typer.echo(f"sensorfleet serve: {e}", err=True)
        raise typer.Exit(2) from e
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
