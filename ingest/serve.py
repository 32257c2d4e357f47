"""`sensorfleet serve`: intake, writer and the HTTP app in one process, until SIGTERM or Ctrl-C."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from ingest.app import IngestService
from ingest.errors import ConfigError
from ingest.settings import load_settings

log = logging.getLogger(__name__)


def serve(
    mqtt_url: Annotated[
        str | None, typer.Option(help="mqtt://user:pass@host:1883; default: embedded broker")
    ] = None,
    influx_url: Annotated[
        str | None, typer.Option(help="http://host:8086; default: SQLite in the data dir")
    ] = None,
    influx_db: Annotated[str | None, typer.Option(help="database (v1) or bucket (v2)")] = None,
    influx_api: Annotated[str | None, typer.Option(help="v1 (/write) or v2 (/api/v2/write)")] = None,
    influx_token: Annotated[str | None, typer.Option(help="InfluxDB token")] = None,
    topic_prefix: Annotated[str | None, typer.Option(help="MQTT topic prefix")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="registry, spool, dead letters, SQLite store")] = None,
    http_host: Annotated[str | None, typer.Option(help="HTTP bind address")] = None,
    http_port: Annotated[int | None, typer.Option(help="HTTP port")] = None,
    share_group: Annotated[str | None, typer.Option(help="MQTT v5 shared subscription group")] = None,
    broker_port: Annotated[int | None, typer.Option(help="port of the embedded broker")] = None,
    config: Annotated[Path | None, typer.Option(help="TOML settings file")] = None,
) -> None:
    """Receive device messages over MQTT, store them, serve health, metrics and the API."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings(
            config,
            mqtt_url=mqtt_url,
            influx_url=influx_url,
            influx_db=influx_db,
            influx_api=influx_api,
            influx_token=influx_token,
            topic_prefix=topic_prefix,
            data_dir=data_dir,
            http_host=http_host,
            http_port=http_port,
            share_group=share_group,
            embedded_broker_port=broker_port,
        )
        service = IngestService(settings)
        service.start()
    except ConfigError as e:
        typer.echo(f"sensorfleet serve: {e}", err=True)
        raise typer.Exit(2) from e
    server = uvicorn.Server(
        uvicorn.Config(
            service.http_app(), host=settings.http_host, port=settings.http_port, log_level="warning"
        )
    )
    try:
        server.run()
    finally:
        log.info("stopping: flushing what is buffered")
        service.stop()
