# Safe mode, after safeboot.SAFE_AFTER crash boots in a row: no sensors, no outbox, only what it
# takes to be reached and repaired. It connects, publishes a retained status saying so (with the
# last crash), and answers commands: ping; reboot (leave safe mode and run the firmware again);
# maint (boot into maintenance for USB work). The outbox on flash is left as it is.
import asyncio
import json
from . import FW
from . import mqtt as M
from . import payload as PL
from .clock import Clock
from .topics import Topics

OPS = ("ping", "reboot", "maint")


class SafeMode:
    def __init__(self, hal, cfg, guard):
        self.hal = hal
        self.cfg = cfg
        self.guard = guard
        self.clock = Clock()
        m = cfg["mqtt"]
        self.topics = t = Topics(m["prefix"], cfg["device_id"])
        self.client = c = M.Client(m["client_id"], m["user"], m["password"], m["keepalive"], True,
                                   (t.status, b'{"online":false,"safe_mode":true}', 1, True), 1,
                                   int(m["timeout_s"] * 1000))
        c.on_message = self._on_message
        c.log = hal.log
        self.results = []
        self.leave = None  # "reboot" or "maint" once asked

    def status(self):
        cr = self.guard.crashes
        fw = (self.guard.ota.get("fw") if hasattr(self.guard, "ota") else None) or FW
        return {"online": True, "safe_mode": True, "fw": fw, "hal": self.hal.name,
                "reset_cause": self.hal.reset_cause(), "crash_boots": cr["n"], "crashes_total": cr["total"],
                "last_crash": cr["last"][-200:], "uptime_s": self.clock.uptime_ms() // 1000}

    async def _on_message(self, topic, payload, retain):
        if topic != self.topics.cmd:
            return
        try:
            msg = json.loads(payload)
            cid = msg["id"]
            op = msg.get("op")
        except Exception:
            return
        if op == "ping":
            out = {"id": cid, "ok": True, "result": {"pong": True, "safe_mode": True}}
        elif op in ("reboot", "maint"):
            out = {"id": cid, "ok": True, "result": {"rebooting": True, "maintenance": op == "maint"}}
            self.leave = op
        else:
            out = {"id": cid, "ok": False, "error": "safe mode after repeated crashes: only %s" % ", ".join(OPS)}
        self.results.append(json.dumps(out).encode())

    async def run(self):
        m = self.cfg["mqtt"]
        c = self.client
        bo = M.Backoff(int(m["backoff_min_s"] * 1000), int(m["backoff_max_s"] * 1000))
        tls = None
        from .transport import StreamTransport, tls_context

        while self.leave is None:
            try:
                if tls is None:
                    tls = tls_context(m)
                await self.hal.network_up()
                await c.connect(StreamTransport(m["host"], m["port"], tls))
                await c.subscribe(self.topics.cmd, 1)
                await c.publish(self.topics.status, PL.status(self.status()), 1, True)
                self.hal.log("safe mode: connected; waiting for commands (ping, reboot, maint)")
                while c.connected and not (self.leave and not self.results and not c.inflight):
                    self.hal.wdt_feed()
                    while self.results and c.can_publish():
                        await c.publish(self.topics.result, self.results.pop(0), 1)
                    await asyncio.sleep_ms(100)
                if self.leave:
                    await c.disconnect()
                    break
            except Exception as e:
                self.hal.log("safe mode: %s" % M.describe(e))
            c.close()
            self.hal.wdt_feed()
            await asyncio.sleep_ms(bo.next())
        return self.leave


def main(hal, guard):
    from . import config as C

    hal.log("SAFE MODE: %d crash boots in a row; last: %s" % (guard.crashes["n"], guard.crashes["last"]))
    try:
        cfg = C.load("config.json")
        hal.configure(cfg)
    except C.ConfigError as e:
        hal.log("CONFIG ERROR: %s" % e)
        hal.halt(2)
    hal.wdt_start(cfg["wdt_s"])
    asyncio.new_event_loop()
    why = asyncio.run(SafeMode(hal, cfg, guard).run())
    if why == "maint":
        guard.enter_maintenance("maint command in safe mode")
    guard.leave_safe_mode()
    hal.reboot()
    return "reboot"
