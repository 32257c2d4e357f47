import json
from pathlib import Path

import pytest

from ingest.errors import DeviceError
from ingest.provision.boardconfig import (
    MASK,
    BoardSettings,
    load_template,
    parse_sensor,
    redact,
    render_config,
    to_json,
)


def test_defaults_follow_the_firmware_contract() -> None:
    config = render_config(BoardSettings(device_id="dev-1", mqtt_password="pw"))
    assert config == {
        "device_id": "dev-1",
        "wifi": {"ssid": "", "password": ""},
        "mqtt": {
            "host": "127.0.0.1",
            "port": 1883,
            "user": "dev-1",
            "password": "pw",
            "tls": False,
            "prefix": "sf",
        },
        "interval_s": 10,
        "batch_max": 20,
        "sensors": [{"type": "sim", "metrics": ["temperature", "humidity"]}],
    }


def test_flags_win_over_the_template_and_template_keys_are_kept() -> None:
    template = {
        "mqtt": {"host": "broker.lan", "port": 8883, "tls": True, "keepalive": 30},
        "interval_s": 60,
        "batch_max": 5,
        "sensors": [{"type": "ds18b20", "pin": 4}],
        "ntp": "pool.ntp.org",
    }
    settings = BoardSettings(
        device_id="dev-2",
        mqtt_password="pw",
        prefix="plant",
        broker_port=1884,
        interval_s=0.05,
        wifi_ssid="lab",
        wifi_password="wpw",
        extra={"site": "lab-1"},
    )
    config = render_config(settings, template)
    assert config["mqtt"] == {
        "host": "broker.lan",
        "port": 1884,
        "tls": True,
        "keepalive": 30,
        "user": "dev-2",
        "password": "pw",
        "prefix": "plant",
    }
    assert config["interval_s"] == 0.05
    assert config["batch_max"] == 5
    assert config["sensors"] == [{"type": "ds18b20", "pin": 4}]
    assert config["ntp"] == "pool.ntp.org"
    assert config["site"] == "lab-1"
    assert config["wifi"] == {"ssid": "lab", "password": "wpw"}
    assert template["mqtt"] == {"host": "broker.lan", "port": 8883, "tls": True, "keepalive": 30}


def test_template_cannot_override_identity() -> None:
    template = {"device_id": "other", "mqtt": {"user": "other", "password": "x", "prefix": "evil"}}
    config = render_config(BoardSettings(device_id="dev-3", mqtt_password="pw"), template)
    assert (config["device_id"], config["mqtt"]["user"], config["mqtt"]["password"]) == (
        "dev-3",
        "dev-3",
        "pw",
    )
    assert config["mqtt"]["prefix"] == "sf"


def test_redact_masks_secrets_only() -> None:
    config = render_config(BoardSettings(device_id="dev-1", mqtt_password="pw", wifi_password="wpw"))
    shown = redact(config)
    assert shown["mqtt"]["password"] == MASK
    assert shown["wifi"]["password"] == MASK
    assert config["mqtt"]["password"] == "pw"
    assert "pw" not in to_json(shown).replace(MASK, "")
    shown["mqtt"]["password"] = shown["wifi"]["password"] = ""
    config["mqtt"]["password"] = config["wifi"]["password"] = ""
    assert shown == config


@pytest.mark.parametrize(
    ("spec", "sensor"),
    [
        ("sim", {"type": "sim"}),
        ("sim:metrics=temperature+humidity", {"type": "sim", "metrics": ["temperature", "humidity"]}),
        ("bme280:bus=i2c0,addr=0x76", {"type": "bme280", "bus": "i2c0", "addr": 118}),
        ("ds18b20:pin=4,offset=-0.5", {"type": "ds18b20", "pin": 4, "offset": -0.5}),
        ('{"type": "sht31", "addr": 68}', {"type": "sht31", "addr": 68}),
    ],
)
def test_sensor_specs(spec: str, sensor: dict[str, object]) -> None:
    assert parse_sensor(spec) == sensor


@pytest.mark.parametrize("spec", ["", "BME", "bme280:addr", "sim:Bad=1", '{"addr": 1}', "{not json"])
def test_bad_sensor_specs(spec: str) -> None:
    with pytest.raises(DeviceError):
        parse_sensor(spec)


@pytest.mark.parametrize(
    "settings",
    [
        BoardSettings(device_id="d", interval_s=0),
        BoardSettings(device_id="d", interval_s=-1),
        BoardSettings(device_id="d", batch_max=0),
        BoardSettings(device_id="d", broker_port=70000),
    ],
)
def test_bad_values_are_refused(settings: BoardSettings) -> None:
    with pytest.raises(DeviceError):
        render_config(settings)


def test_template_file(tmp_path: Path) -> None:
    good = tmp_path / "t.json"
    good.write_text(json.dumps({"interval_s": 3}))
    assert load_template(good) == {"interval_s": 3}
    bad = tmp_path / "bad.json"
    bad.write_text("[1]")
    with pytest.raises(DeviceError, match="JSON object"):
        load_template(bad)
    with pytest.raises(DeviceError, match="cannot read"):
        load_template(tmp_path / "missing.json")
