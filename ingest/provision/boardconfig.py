"""The board's `config.json`: rendered from a template plus flags, shown with its secrets masked.

Keys follow the firmware contract: device_id, wifi{ssid,password},
mqtt{host,port,user,password,tls,prefix}, interval_s, batch_max, sensors[]. A template may add keys
the firmware understands; flags always win over the template.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingest.errors import DeviceError

MASK = "********"
SECRET_PATHS = (("wifi", "password"), ("mqtt", "password"))
DEFAULT_SENSORS: tuple[dict[str, Any], ...] = ({"type": "sim", "metrics": ["temperature", "humidity"]},)

_SENSOR_TYPE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_KEY = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


@dataclass(frozen=True)
class BoardSettings:
    """Everything a board's config needs besides the template; `None` keeps the template's value."""

    device_id: str
    mqtt_password: str = ""
    prefix: str = "sf"
    broker_host: str | None = None
    broker_port: int | None = None
    wifi_ssid: str | None = None
    wifi_password: str | None = None
    interval_s: float | None = None
    batch_max: int | None = None
    sensors: tuple[dict[str, Any], ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)
    """More top-level keys (e.g. `site`); the firmware ignores what it does not know."""


def base_template() -> dict[str, Any]:
    """The built-in template; a template file is merged on top of it."""
    return {
        "wifi": {"ssid": "", "password": ""},
        "mqtt": {"host": "127.0.0.1", "port": 1883, "tls": False},
        "interval_s": 10,
        "batch_max": 20,
        "sensors": [dict(s) for s in DEFAULT_SENSORS],
    }


def load_template(path: Path) -> dict[str, Any]:
    try:
        template = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise DeviceError(f"cannot read config template {path}: {e}") from e
    if not isinstance(template, dict):
        raise DeviceError(f"config template {path} must hold a JSON object")
    return template


def render_config(settings: BoardSettings, template: dict[str, Any] | None = None) -> dict[str, Any]:
    """The full config.json for one board, secrets included."""
    config = _merged(base_template(), template or {})
    config.update(copy.deepcopy(settings.extra))
    wifi = _section(config, "wifi")
    mqtt = _section(config, "mqtt")
    config["device_id"] = settings.device_id
    mqtt.update(user=settings.device_id, password=settings.mqtt_password, prefix=settings.prefix)
    _set(mqtt, "host", settings.broker_host)
    _set(mqtt, "port", settings.broker_port)
    _set(wifi, "ssid", settings.wifi_ssid)
    _set(wifi, "password", settings.wifi_password)
    _set(config, "interval_s", settings.interval_s)
    _set(config, "batch_max", settings.batch_max)
    if settings.sensors:
        config["sensors"] = [dict(s) for s in settings.sensors]
    _check(config)
    return config


def redact(config: dict[str, Any]) -> dict[str, Any]:
    """A copy with every secret replaced by a mask (empty secrets stay empty: nothing to hide)."""
    shown = copy.deepcopy(config)
    for section, key in SECRET_PATHS:
        part = shown.get(section)
        if isinstance(part, dict) and part.get(key):
            part[key] = MASK
    return shown


def to_json(config: dict[str, Any]) -> str:
    return json.dumps(config, indent=2, sort_keys=True) + "\n"


def parse_sensor(spec: str) -> dict[str, Any]:
    """One `--sensor` value: a JSON object, or `TYPE[:key=value,...]` where `metrics=a+b` is a list
    and numbers (decimal or 0x hex) become ints, e.g. `bme280:bus=i2c0,addr=0x76` or
    `sim:metrics=temperature+humidity`."""
    if spec.lstrip().startswith("{"):
        try:
            sensor = json.loads(spec)
        except ValueError as e:
            raise DeviceError(f"sensor {spec!r}: not valid JSON ({e})") from e
        if not isinstance(sensor, dict) or not isinstance(sensor.get("type"), str):
            raise DeviceError(f'sensor {spec!r}: needs a JSON object with a string "type"')
        _check_sensor_type(sensor["type"])
        return sensor
    kind, _, rest = spec.partition(":")
    sensor = {"type": _check_sensor_type(kind)}
    for item in filter(None, rest.split(",")):
        key, eq, value = item.partition("=")
        if not eq or not _KEY.fullmatch(key):
            raise DeviceError(f"sensor {spec!r}: expected key=value, got {item!r}")
        sensor[key] = value.split("+") if key == "metrics" else _scalar(value)
    return sensor


def _check_sensor_type(kind: str) -> str:
    if not _SENSOR_TYPE.fullmatch(kind):
        raise DeviceError(f"sensor type {kind!r} not allowed: use a-z 0-9 _")
    return kind


def _scalar(value: str) -> Any:
    for parse in (lambda v: int(v, 0), float):
        try:
            return parse(value)
        except ValueError:
            continue
    return value


def _merged(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` on top of `base`, objects merged key by key (a copy: neither input changes)."""
    merged = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _section(config: dict[str, Any], name: str) -> dict[str, Any]:
    part = config.setdefault(name, {})
    if not isinstance(part, dict):
        raise DeviceError(f"config template: {name!r} must be an object")
    return part


def _set(part: dict[str, Any], key: str, value: object) -> None:
    if value is not None:
        part[key] = value


def _check(config: dict[str, Any]) -> None:
    interval = config.get("interval_s")
    if not isinstance(interval, int | float) or isinstance(interval, bool) or not interval > 0:
        raise DeviceError(f"interval_s must be a number above 0, got {interval!r}")
    batch_max = config.get("batch_max")
    if not isinstance(batch_max, int) or isinstance(batch_max, bool) or batch_max < 1:
        raise DeviceError(f"batch_max must be an integer of at least 1, got {batch_max!r}")
    port = config["mqtt"]["port"]
    if not isinstance(port, int) or not 0 < port < 65536:
        raise DeviceError(f"broker port must be 1-65535, got {port!r}")
    sensors = config.get("sensors")
    if not isinstance(sensors, list) or not sensors:
        raise DeviceError("a board needs at least one sensor")
