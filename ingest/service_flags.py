"""The settings flags `sensorfleet serve` and `sensorfleet demo` share (design: every setting has a flag)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer

from ingest.settings import Settings, load_settings

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
MqttPasswordFile = Annotated[
    Path | None, typer.Option(help="file whose first line is the broker password (keeps it out of `ps`)")
]
BrokerPort = Annotated[int | None, typer.Option(help="port of the embedded broker")]
ConfigFile = Annotated[Path | None, typer.Option(help="TOML settings file")]

SETTING_FLAGS = (
    "mqtt_url",
    "mqtt_password_file",
    "influx_url",
    "influx_db",
    "influx_api",
    "influx_token",
    "topic_prefix",
    "data_dir",
    "http_host",
    "http_port",
    "share_group",
)


def settings_from_flags(flags: Mapping[str, Any]) -> Settings:
    """Settings from a command's parameters (its `locals()`): the flags above, `broker_port` and `config`.

    Flags left out (None) keep what the environment and the config file say."""
    return load_settings(
        flags["config"],
        embedded_broker_port=flags["broker_port"],
        **{name: flags[name] for name in SETTING_FLAGS},
    )
