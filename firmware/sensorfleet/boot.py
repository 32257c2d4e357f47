# The one boot path (safeboot.py calls main): check config.json, build the app's parts from it and
# the HAL, run the app. A config that does not check out is reported instead, as a retained status
# with the error when its MQTT settings are usable, and the board halts: no restart loop.
import asyncio
import gc

from . import FW
from . import app as A  # before the rest: the bulk of the compiling, best done on an unfragmented heap
from . import mqtt as M
from . import payload as PL
from . import sensors as S
from .outbox import Outbox
from .topics import Topics

OFFLINE = b'{"online":false}'  # the last will: the status the broker publishes when the link dies


def bump_boot(path):
    # The boot counter in flash: read, add one, write atomically (temp + rename) before anything else.
    import os

    try:
        with open(path) as f:
            n = int(f.read())
    except (OSError, ValueError):
        n = 0
    n += 1
    with open(path + ".tmp", "w") as f:
        f.write(str(n))
    os.rename(path + ".tmp", path)
    return n


def mqtt_client(cfg, log, will=None):
    # The app's client and the config error report's are both built here, from the config's settings.
    m = cfg["mqtt"]
    c = M.Client(
        m["client_id"],
        m["user"],
        m["password"],
        m["keepalive"],
        m["clean_session"],
        will,
        m["window"],
        int(m["timeout_s"] * 1000),
    )
    c.log = log
    return c


def build(hal, cfg, guard=None, cfg_path="config.json"):
    topics = Topics(cfg["mqtt"]["prefix"], cfg["device_id"])
    dd = cfg["data_dir"]
    # The outbox first: on a full flash it gives up its oldest readings so the boot counter fits.
    outbox = Outbox(
        dd + "/ob", cfg["segment_kb"] * 1024, max(2, cfg["outbox_kb"] // cfg["segment_kb"]), hal.log
    ).open()
    boot = bump_boot(dd + "/boot")
    sensors = S.build(cfg, hal, cfg["device_id"])
    client = mqtt_client(cfg, hal.log, (topics.status, OFFLINE, 1, True))
    return A.App(hal, cfg, topics, outbox, boot, sensors, client, guard, cfg_path)


def load(hal):
    # -> (config, None, None), or (None, error message, check()'s config if it can report the error).
    # The checking code is unloaded afterwards: it is a tenth of the firmware's heap and is needed
    # once per boot.
    import sys

    gc.collect()  # the garbage of compiling the rest goes first: the checker is compiled in one piece
    from . import config as C

    try:
        cfg = C.load("config.json")
        hal.configure(cfg)
        return cfg, None, None
    except C.ConfigError as e:
        return None, str(e), e.cfg if C.mqtt_usable(e.cfg) else None
    finally:
        sys.modules.pop("sensorfleet.config", None)
        import sensorfleet

        if hasattr(sensorfleet, "config"):
            delattr(sensorfleet, "config")


async def report(hal, cfg, msg):
    # A retained status with the error, then a clean goodbye. cfg is check()'s config: each bad value
    # in it is replaced by its default.
    try:
        if hal.cfg is None:
            hal.cfg = cfg
        await asyncio.wait_for_ms(hal.network_up(), 30000)
        from .transport import StreamTransport, tls_context

        m = cfg["mqtt"]
        c = mqtt_client(cfg, hal.log)
        await c.connect(StreamTransport(m["host"], m["port"], tls_context(m)))
        topic = Topics(m["prefix"], cfg["device_id"]).status
        await c.publish(topic, PL.status({"online": False, "fw": FW, "hal": hal.name, "error": msg}), 1, True)
        for _ in range(50):
            if not c.inflight:
                break
            await asyncio.sleep_ms(100)
        await c.disconnect()
        hal.log("config: error reported on %s" % topic)
    except Exception as e:
        hal.log("config: could not report the error over MQTT (%s)" % e)


async def start(hal, guard):
    cfg, err, checked = load(hal)
    gc.collect()
    if err:
        hal.log("CONFIG ERROR: %s" % err)
        if checked:
            await report(hal, checked, err)
        return "bad-config"
    return await build(hal, cfg, guard).run()


def main(hal, guard=None):
    # Runs the firmware. A `reboot` command resets the board; only on the unix port does hal.reboot()
    # return, and then "reboot" tells safeboot to boot again in this process. Nothing else returns:
    # on the board that would leave a started watchdog to reset it.
    asyncio.new_event_loop()
    r = asyncio.run(start(hal, guard))
    gc.collect()
    if r == "reboot":
        hal.reboot()
        return r
    if r == "bad-config":
        hal.log("config: fix config.json; not starting (no restart loop)")
        hal.halt(2)
    hal.halt(0)
