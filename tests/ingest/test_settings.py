"""Settings: the SENSORFLEET_* names of the contract, their precedence, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.errors import ConfigError
from ingest.service import IngestService
from ingest.settings import load_settings


def test_contract_names_reach_the_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env = {
        "SENSORFLEET_MQTT_URL": "mqtt://u:p@broker:1883",
        "SENSORFLEET_INFLUX_URL": "http://db:8086",
        "SENSORFLEET_INFLUX_DB": "farm",
        "SENSORFLEET_INFLUX_API": "v2",
        "SENSORFLEET_INFLUX_TOKEN": "secret",
        "SENSORFLEET_TOPIC_PREFIX": "site1",
        "SENSORFLEET_DATA_DIR": str(tmp_path),
        "SENSORFLEET_HTTP_PORT": "9000",
        "SENSORFLEET_SHARE_GROUP": "ingest",
        "SENSORFLEET_MQTT_KEEPALIVE_S": "10",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    s = load_settings()
    assert (s.mqtt_url, s.influx_url, s.influx_db, s.influx_api, s.influx_token) == (
        "mqtt://u:p@broker:1883",
        "http://db:8086",
        "farm",
        "v2",
        "secret",
    )
    assert (s.topic_prefix, s.data_dir, s.http_port, s.share_group, s.mqtt_keepalive_s) == (
        "site1",
        tmp_path,
        9000,
        "ingest",
        10,
    )


def test_flags_beat_the_environment_which_beats_the_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "sensorfleet.toml"
    config.write_text('influx_db = "from-file"\ntopic_prefix = "file"\nhttp_port = 7000\n')
    monkeypatch.setenv("SENSORFLEET_TOPIC_PREFIX", "env")
    monkeypatch.setenv("SENSORFLEET_HTTP_PORT", "7001")
    s = load_settings(config, http_port=7002, share_group=None)
    assert (s.influx_db, s.topic_prefix, s.http_port, s.share_group) == ("from-file", "env", 7002, None)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("SENSORFLEET_MQTT_KEEPALIVE_S", "2", "mqtt_keepalive_s"),
        ("SENSORFLEET_MQTT_URL", "http://broker", "mqtt_url"),
        ("SENSORFLEET_HTTP_PORT", "70000", "http_port"),
    ],
)
def test_invalid_settings_are_a_config_error_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=message):
        load_settings()


def test_unknown_sensorfleet_variables_are_not_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENSORFLEET_NO_SUCH_SETTING", "1")
    assert not hasattr(load_settings(), "no_such_setting")


def test_the_keepalive_reaches_the_mqtt_intake(tmp_path: Path) -> None:
    service = IngestService(
        load_settings(data_dir=tmp_path, mqtt_url="mqtt://127.0.0.1:1", mqtt_keepalive_s=12)
    )
    assert service.intake.config.keepalive_s == 12
