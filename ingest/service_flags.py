"""The settings flags `sensorfleet serve` and `sensorfleet demo` share (design: every setting has a flag)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

MqttUrl = Annotated[str | None, typer.Option(help="mqtt://user:pass@host:1883; default: embedded broker")]
InfluxUrl = Annotated[str | None, typer.Option(help="http://host:8086; default: SQLite in the data dir")]
InfluxDb = Annotated[str | None, typer.Option(help="database (v1) or bucket (v2)")]
InfluxApi = Annotated[str | None, typer.Option(help="v1 (/write) or v2 (/api/v2/write)")]
InfluxToken = Annotated[str | None, typer.Option(help="InfluxDB token")]
TopicPrefix = Annotated[str | None, typer.Option(help="MQTT topic prefix")]
DataDir = Annotated[Path | None, typer.Option(help="registry, spool, dead letters, SQLite store")]
HttpHost = Annotated[str | None, typer.Option(help="HTTP bind address")]
HttpPort = Annotated[int | None, typer.Option(help="HTTP port")]
ShareGroup = Annotated[str | None, typer.Option(help="MQTT v5 shared subscription group")]
BrokerPort = Annotated[int | None, typer.Option(help="port of the embedded broker")]
ConfigFile = Annotated[Path | None, typer.Option(help="TOML settings file")]
