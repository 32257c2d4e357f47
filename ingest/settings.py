"""Typed settings from `SENSORFLEET_*` environment variables, an optional TOML file and CLI flags.

Built by `load_settings()`, never at import time, so tests and commands choose their own.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ingest.contract import MAX_METRICS_PER_DEVICE, MAX_METRICS_PER_READING, MQTT_NAME, TOPIC_PREFIX
from ingest.errors import ConfigError


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SENSORFLEET_", extra="forbid", frozen=True)

    mqtt_url: str | None = Field(None, description="mqtt://user:pass@host:1883; none → embedded broker")
    mqtt_password_file: Path | None = Field(
        None, description="the broker password on the first line; wins over a password in mqtt_url"
    )
    influx_url: str | None = Field(None, description="http://host:8086; none → SQLite under data_dir")
    influx_db: str = "sensorfleet"
    influx_api: Literal["v1", "v2"] = "v1"
    influx_token: str | None = None
    influx_org: str | None = None
    measurement: str = "telemetry"
    topic_prefix: str = Field("sf", pattern=TOPIC_PREFIX.pattern)
    data_dir: Path = Path("./sensorfleet-data")
    database_url: str | None = Field(
        None, description="postgresql://user@host/db for the state store; none → SQLite under data_dir"
    )
    http_host: str = "127.0.0.1"
    http_port: int = Field(8080, ge=0, le=65535)
    share_group: str | None = Field(None, pattern=MQTT_NAME.pattern)
    client_id: str = Field("sensorfleet-ingest", pattern=MQTT_NAME.pattern)
    embedded_broker_port: int = Field(
        1883, ge=0, le=65535, description="port of the broker started without mqtt_url"
    )
    mqtt_session_expiry_s: int = Field(
        7 * 24 * 3600, ge=60, description="how long the broker keeps our queue"
    )
    mqtt_receive_maximum: int = Field(
        1000, ge=1, le=65535, description="unacknowledged messages in flight to us"
    )
    mqtt_keepalive_s: int = Field(
        30, ge=5, le=3600, description="MQTT keepalive: a dead broker connection is noticed within 1.5×"
    )
    strict_devices: bool = Field(False, description="only store devices already in the registry")
    batch_points: int = Field(5000, ge=1, description="flush the write buffer at this many points")
    batch_messages: int = Field(500, ge=1, description="…or at this many unacknowledged messages")
    flush_interval_ms: int = Field(100, ge=1, description="…or when the oldest buffered message is this old")
    linger_ms: float = Field(
        2.0, ge=0, le=1000, description="while messages keep coming, wait this long for the next one"
    )
    write_timeout_s: float = Field(10.0, gt=0)
    write_attempts: int = Field(
        3, ge=1, description="tries against the store before a batch goes to the spool"
    )
    spool_max_bytes: int = Field(1 << 30, ge=1024, description="beyond this, stop acknowledging messages")
    spool_dir: Path | None = Field(None, description="this process's own spool; none → <data_dir>/spool")
    max_payload_bytes: int = Field(256 * 1024, ge=1024)
    max_past_s: int = Field(30 * 24 * 3600, ge=0, description="oldest device timestamp accepted")
    max_future_s: int = Field(300, ge=0, description="how far ahead of our clock a device timestamp may be")
    max_metrics_per_reading: int = Field(MAX_METRICS_PER_READING, ge=1, le=1000)
    max_metrics_per_device: int = Field(
        MAX_METRICS_PER_DEVICE, ge=1, le=10_000, description="distinct metric names a device may ever use"
    )
    hold_max_s: float = Field(
        60.0, gt=0, description="a batch unacknowledged this long (store or disk down) makes /readyz fail"
    )
    dead_letters_kept: int = Field(100_000, ge=100, description="the newest dead letters kept")
    external_url: str | None = Field(
        None, description="the dashboard's address for links in alert notifications; none → http_host:port"
    )
    rollout_tick_s: float = Field(
        1.0, gt=0, le=60, description="how often running firmware rollouts are looked at (and boards offered)"
    )
    alert_tick_s: float = Field(1.0, gt=0, le=60, description="how often alerts' timers are checked")
    alert_scan_s: float = Field(
        5.0, gt=0, le=3600, description="how often the fleet is scanned for silent or incomplete devices"
    )
    webhook_timeout_s: float = Field(
        5.0, gt=0, le=60, description="a webhook that has not answered by then failed"
    )

    @field_validator("mqtt_url")
    @classmethod
    def _mqtt_scheme(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("mqtt://", "mqtts://")):
            raise ValueError("must start with mqtt:// or mqtts://")
        return v

    @field_validator("influx_url")
    @classmethod
    def _http_scheme(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return v


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Settings from, lowest to highest precedence: defaults, TOML file, environment, `overrides`.

    `overrides` with value None are ignored, so CLI flags that were not given leave the rest alone.
    """
    values: dict[str, Any] = {}
    if config_file is not None:
        try:
            values.update(tomllib.loads(config_file.read_text()))
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise ConfigError(f"cannot read config file {config_file}: {e}") from e
    env_only = _from_env()
    values.update(env_only)
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Settings(**values)
    except ValidationError as e:
        raise ConfigError(_describe(e)) from e


def _from_env() -> dict[str, Any]:
    try:
        return Settings().model_dump(exclude_unset=True)
    except ValidationError as e:
        raise ConfigError(_describe(e)) from e


def _describe(e: ValidationError) -> str:
    problems = [f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors()]
    return "invalid settings: " + "; ".join(problems)
