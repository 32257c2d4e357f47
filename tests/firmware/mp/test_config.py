# config.json: defaults, clear messages naming the key, fractions for interval_s.
import json

from sensorfleet import config as C

from mptest import eq, raises

GOOD = {
    "device_id": "dev-1",
    "mqtt": {"host": "127.0.0.1"},
    "interval_s": 0.05,
    "sensors": [{"type": "sim"}, {"type": "bme280", "name": "inside", "addr": 118}],
}


def test_defaults_and_fractional_interval():
    cfg, errors = C.check(GOOD)
    eq(errors, [])
    eq(cfg["interval_s"], 0.05)
    eq(cfg["batch_max"], 20)
    m = cfg["mqtt"]
    eq((m["port"], m["prefix"], m["tls"], m["client_id"], m["keepalive"]), (1883, "sf", False, "dev-1", 60))
    eq(cfg["sensors"][0]["metrics"], ["temperature", "humidity"])
    eq(cfg["stop_after"], 0)
    cfg, errors = C.check({"device_id": "d", "mqtt": {"host": "h", "tls": True, "ca": "ca.pem"}})
    eq(cfg["mqtt"]["port"], 8883)


def test_tls_verifies_the_broker_unless_the_config_says_not_to():
    cfg, errors = C.check({"device_id": "d", "mqtt": {"host": "h", "tls": True}})
    eq(len(errors), 1)
    assert errors[0].startswith("mqtt.tls needs mqtt.ca") and "tls_insecure: true" in errors[0], errors
    cfg, errors = C.check({"device_id": "d", "mqtt": {"host": "h", "tls": True, "tls_insecure": True}})
    eq(errors, [])
    from sensorfleet.transport import make_tls

    raises(ValueError, make_tls, None, False)


def test_every_problem_is_named():
    bad = {
        "device_id": "Dev/1",
        "mqtt": {"port": "x", "prefix": "a/#"},
        "interval_s": 0,
        "batch_max": 2.5,
        "sensors": [{"type": "bme999"}, {"type": "sim", "metrics": ["ok", "9bad"]}, "x"],
    }
    cfg, errors = C.check(bad)
    text = "; ".join(errors)
    for part in (
        "device_id must match",
        "mqtt.host is required",
        "mqtt.port must be an integer",
        "mqtt.prefix",
        "interval_s must be a number in [0.001, 86400] (got 0)",
        "batch_max must be an integer",
        "sensors[0].type must be one of",
        'sensors[1].metrics: "9bad"',
        "sensors[2] must be an object",
    ):
        assert part in text, (part, text)


def test_ids_and_metric_names():
    for ok in ("dev-1", "a", "0_x", "a" * 63):
        assert C.valid_id(ok), ok
    for bad in ("", "-a", "A", "a/b", "a+b", "a#", "a" * 64, None, 5):
        assert not C.valid_id(bad), bad
    assert C.valid_metric("inside.temperature") and not C.valid_metric("1x") and not C.valid_metric("a-b")


def test_duplicate_sensor_names_are_refused():
    cfg, errors = C.check(
        {"device_id": "d", "mqtt": {"host": "h"}, "sensors": [{"type": "sim"}, {"type": "sim"}]}
    )
    assert errors and "two sensors named" in errors[0], errors


def test_load_messages():
    with open("c1.json", "w") as f:
        f.write("{nope")
    e = raises(C.ConfigError, C.load, "c1.json")
    assert "c1.json is not valid JSON" in str(e), e
    e = raises(C.ConfigError, C.load, "missing.json")
    assert "missing.json not found" in str(e)
    with open("c2.json", "w") as f:
        f.write(json.dumps({"device_id": "d", "mqtt": {"host": "h"}, "interval_s": "fast"}))
    e = raises(C.ConfigError, C.load, "c2.json")
    assert str(e).startswith("c2.json: interval_s must be a number"), e
    assert C.mqtt_usable(e.cfg)
    assert not C.mqtt_usable(C.check({"device_id": "D", "mqtt": {"host": "h"}})[0])
    assert not C.mqtt_usable(C.check({"device_id": "d", "mqtt": {"host": ""}})[0])
    assert not C.mqtt_usable(C.check([1])[0])


def test_a_bad_prefix_falls_back_to_the_default_for_the_error_report():
    cfg, errors = C.check({"device_id": "d", "mqtt": {"host": "h", "prefix": "a/#"}})
    assert errors and errors[0].startswith("mqtt.prefix must be"), errors
    eq(cfg["mqtt"]["prefix"], "sf")
