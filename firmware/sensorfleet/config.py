# config.json: loaded, checked and completed with defaults. Every problem is reported at once, with
# the key it concerns, as a ConfigError; nothing here touches hardware.
import json

from sensorfleet.settable import SETTABLE

SENSOR_TYPES = ("sim", "bme280", "sht3x", "ds18b20", "dht22", "adc", "internal")


class ConfigError(Exception):
    cfg = None  # check()'s config, when config.json was JSON (enough, maybe, to report the error)


def valid_id(s):
    # ^[a-z0-9][a-z0-9_-]{0,62}$
    if not isinstance(s, str) or not 1 <= len(s) <= 63:
        return False
    for i, c in enumerate(s):
        if not ("a" <= c <= "z" or "0" <= c <= "9" or (i and c in "_-")):
            return False
    return True


def valid_metric(s):
    # ^[A-Za-z][A-Za-z0-9_.]{0,63}$
    if not isinstance(s, str) or not 1 <= len(s) <= 64:
        return False
    for i, c in enumerate(s):
        if not ("a" <= c <= "z" or "A" <= c <= "Z" or (i and ("0" <= c <= "9" or c in "_."))):
            return False
    return True


def _num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


class _Checker:
    def __init__(self):
        self.errors = []

    def get(self, d, key, default, kind, where="", lo=None, hi=None, required=False):
        name = where + key
        if key not in d or d[key] is None:
            if required:
                self.errors.append("%s is required" % name)
            return default
        v = d[key]
        ok = True
        if kind == "num":
            ok = _num(v)
        elif kind == "int":
            ok = isinstance(v, int) and not isinstance(v, bool)
        elif kind == "bool":
            ok = isinstance(v, bool)
        elif kind == "str":
            ok = isinstance(v, str)
        elif kind == "dict":
            ok = isinstance(v, dict)
        elif kind == "list":
            ok = isinstance(v, list)
        if ok and lo is not None and v < lo:
            ok = False
        if ok and hi is not None and v > hi:
            ok = False
        if not ok:
            rng = ""
            if lo is not None and hi is not None:
                rng = " in [%s, %s]" % (lo, hi)
            elif lo is not None:
                rng = " >= %s" % lo
            self.errors.append("%s must be %s%s (got %s)" % (name, _KIND[kind], rng, _short(v)))
            return default
        return v


_KIND = {"num": "a number", "int": "an integer", "bool": "true or false", "str": "a string",
         "dict": "an object", "list": "a list"}


def _short(v):
    s = json.dumps(v)
    return s if len(s) < 40 else s[:37] + "..."


def check(raw):
    # -> (config dict with every default filled in, list of error strings)
    c = _Checker()
    cfg = {}
    if not isinstance(raw, dict):
        return cfg, ["the top level must be a JSON object"]
    did = raw.get("device_id")
    if not valid_id(did):
        c.errors.append("device_id must match ^[a-z0-9][a-z0-9_-]{0,62}$ (got %s)" % _short(did))
    cfg["device_id"] = did
    m = c.get(raw, "mqtt", None, "dict", required=True) or {}
    w = "mqtt."
    tls = c.get(m, "tls", False, "bool", w)
    mq = {
        "host": c.get(m, "host", None, "str", w, required=True),
        "port": c.get(m, "port", 8883 if tls else 1883, "int", w, 1, 65535),
        "user": c.get(m, "user", None, "str", w),
        "password": c.get(m, "password", None, "str", w),
        "tls": tls,
        "ca": c.get(m, "ca", None, "str", w),
        "tls_insecure": c.get(m, "tls_insecure", False, "bool", w),
        "prefix": c.get(m, "prefix", "sf", "str", w),
        "client_id": c.get(m, "client_id", did, "str", w),
        "keepalive": c.get(m, "keepalive", 60, "int", w, 0, 65535),
        "clean_session": c.get(m, "clean_session", False, "bool", w),
        "timeout_s": c.get(m, "timeout_s", 10, "num", w, 0.1, 300),
        "backoff_min_s": c.get(m, "backoff_min_s", 0.5, "num", w, 0.01, 3600),
        "backoff_max_s": c.get(m, "backoff_max_s", 30, "num", w, 0.01, 86400),
        "window": c.get(m, "window", 4, "int", w, 1, 32),
    }
    if tls and not mq["ca"] and not mq["tls_insecure"]:
        c.errors.append("mqtt.tls needs mqtt.ca, the CA file that signed the broker's certificate "
                        "(or mqtt.tls_insecure: true to connect without verifying the broker)")
    p = mq["prefix"]
    if not p or "+" in p or "#" in p or p[0] == "/" or p[-1] == "/":
        c.errors.append("mqtt.prefix must be a non-empty topic level without +, # or outer / (got %s)" % _short(p))
        mq["prefix"] = "sf"  # as any bad value: the default, so that the error can still be reported
    if mq["host"] == "":
        c.errors.append("mqtt.host must not be empty")
    cfg["mqtt"] = mq
    cfg["wifi"] = c.get(raw, "wifi", None, "dict")
    for name, default in (("interval_s", 10), ("batch_max", 20)):
        kind, low, high = SETTABLE[name]
        cfg[name] = c.get(raw, name, default, kind, "", low, high)
    cfg["flush_ms"] = c.get(raw, "flush_ms", None, "int", "", 0, 600000)
    cfg["status_s"] = c.get(raw, "status_s", 60, "num", "", 1, 86400)
    cfg["log_s"] = c.get(raw, "log_s", 60, "num", "", 0, 86400)
    cfg["outbox_kb"] = c.get(raw, "outbox_kb", 256, "int", "", 8, 1 << 20)
    cfg["segment_kb"] = c.get(raw, "segment_kb", 4, "int", "", 1, 64)
    cfg["data_dir"] = c.get(raw, "data_dir", "data", "str")
    cfg["ntp_host"] = c.get(raw, "ntp_host", "pool.ntp.org", "str")
    cfg["wdt_s"] = c.get(raw, "wdt_s", 60, "int", "", 0, 3600)
    cfg["stop_after"] = c.get(raw, "stop_after", 0, "int", "", 0)
    cfg["buses"] = c.get(raw, "buses", {}, "dict")
    cfg["clock_delay_s"] = c.get(raw, "clock_delay_s", 0, "num")
    # Updates (safeboot.py reads the two trial limits itself, with the same defaults and ranges).
    cfg["ota_trial_boots"] = c.get(raw, "ota_trial_boots", 3, "int", "", 1, 100)
    cfg["ota_trial_s"] = c.get(raw, "ota_trial_s", 300, "num", "", 1, 86400)
    cfg["ota_timeout_s"] = c.get(raw, "ota_timeout_s", 5, "num", "", 0.05, 120)
    cfg["ota_retries"] = c.get(raw, "ota_retries", 8, "int", "", 1, 1000)
    sensors = c.get(raw, "sensors", [], "list")
    out = []
    names = {}
    for i, s in enumerate(sensors):
        w = "sensors[%d]." % i
        if not isinstance(s, dict):
            c.errors.append("sensors[%d] must be an object" % i)
            continue
        t = s.get("type")
        if t not in SENSOR_TYPES:
            c.errors.append("%stype must be one of %s (got %s)" % (w, ", ".join(SENSOR_TYPES), _short(t)))
            continue
        s = dict(s)
        kind, low, high = SETTABLE["interval_s"]
        c.get(s, "interval_s", None, kind, w, low, high)
        nm = c.get(s, "name", None, "str", w)
        if nm is not None and not valid_metric(nm):
            c.errors.append("%sname must be a metric name like inside or t1 (got %s)" % (w, _short(nm)))
        if t == "sim":
            ms = c.get(s, "metrics", ["temperature", "humidity"], "list", w)
            for mname in ms:
                if not valid_metric(mname):
                    c.errors.append("%smetrics: %s is not a metric name" % (w, _short(mname)))
            s["metrics"] = ms
        key = nm or t
        if key in names:
            c.errors.append("%sname: two sensors named %s; give each its own name" % (w, _short(key)))
        names[key] = 1
        out.append(s)
    cfg["sensors"] = out
    return cfg, c.errors


def mqtt_usable(cfg):
    # Enough of check()'s config to report an error: a valid device id and an MQTT host.
    return bool(cfg) and valid_id(cfg["device_id"]) and bool(cfg["mqtt"]["host"])


def read_raw(path):
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        raise ConfigError("%s not found (copy config.example.json there and edit it)" % path)
    try:
        return json.loads(text)
    except ValueError as e:
        raise ConfigError("%s is not valid JSON (%s)" % (path, e))


def load(path="config.json"):
    raw = read_raw(path)
    cfg, errors = check(raw)
    if errors:
        e = ConfigError("%s: %s" % (path, "; ".join(errors)))
        e.cfg = cfg
        raise e
    return cfg
