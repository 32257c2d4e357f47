# The running firmware: sample sensors into the flash outbox, publish it in batches over MQTT,
# remove a batch only after its PUBACK, report status, run commands, feed the watchdog on progress.
# boot.py builds it from the config and the HAL.
#
# Tasks (one asyncio loop):
#   sampler    reads the sensors that are due, appends one reading (boot, seq, ts|uptime, values)
#   net        WiFi + MQTT connect with backoff and jitter, subscribe, birth; waits for the link to end
#   publisher  publisher.py: status and command results first, then batches from the outbox
#   house      batched flash writes, ack-position saves, status, heap marks, watchdog, console stats
#   clock      NTP on the board, the host clock on the unix port
#   ota        while an update downloads (sensorfleet/ota.py, imported when one starts)
import gc
import asyncio
from time import ticks_ms, ticks_diff
from . import FW
from . import mqtt as M
from . import payload as PL
from .clock import Clock
from .outbox import KIND_TS, KIND_UP
from .commands import Commands, save_settings
from .publisher import Publisher, RESULT, REBOOT

FLUSH_READINGS = 16  # without flush_ms: one flash write per this many readings' time (>= 1 s)
SAVE_MS = 2000  # save the acknowledged position at most this often
MAX_VALUES = 900  # bytes of one reading's values (a batch is <= 1 KiB)
SAMPLE_GRACE_MS = 10000  # the watchdog starves when no sample came for interval + this
PUB_GRACE_MS = 20000  # ... or the publisher loop has not turned for this long
GC_EVERY = 16384  # bytes allocated between two garbage collections


class App:
    def __init__(self, hal, cfg, topics, outbox, boot, sensors, client, guard=None,
                 cfg_path="config.json"):
        self.hal = hal
        self.guard = guard  # safeboot.Guard: crash streak, maintenance flag (None in unit tests)
        self.cfg = cfg
        self.cfg_path = cfg_path
        self.log = hal.log
        self.topics = topics
        self.outbox = outbox
        self.boot = boot
        self.sensors = sensors
        self.client = client
        self.clock = Clock()
        client.on_message = self._on_message
        self.pub = Publisher(client, outbox, topics, self.clock, cfg, boot, guard, self._heap)
        self.cmds = Commands(Device(self), cfg["data_dir"] + "/cmds.json")
        self.done = asyncio.Event()
        self.result = None
        self.seq = 0
        self.samples = 0
        self.sampling = True
        self.heap_peak = 0
        self.heap_free = 0
        self.sample_beat = ticks_ms()
        self.buf_since = None
        self.reboot_at = None
        self.connects = 0
        self.crashes = 0
        self.ota_state = getattr(guard, "ota", None) or {}  # safeboot's ota.json
        self.fw = self.ota_state.get("fw") or FW  # an update's version once the stub installed it
        self.ota = None  # the update client (sensorfleet/ota.py), made when an update starts
        self.ota_reboot = None  # an update is staged: reboot into it once the queue is out
        self.tasks = []
        self.pub.on_healthy = self._healthy

    # -- lifecycle ----------------------------------------------------------------------------
    async def run(self):
        h = self.hal
        ob = self.outbox
        self.log("sensorfleet %s on %s: device %s boot %d, reset cause %s, outbox %d waiting, %d dropped"
                 % (self.fw, h.name, self.cfg["device_id"], self.boot, h.reset_cause(), ob.pending, ob.dropped))
        if not self.sensors:
            self.log("config: no sensors configured: nothing will be sampled")
        if self.cfg["mqtt"]["tls_insecure"]:
            self.log("mqtt: TLS without verifying the broker (tls_insecure): anyone on the path can read "
                     "and change the traffic")
        h.wdt_start(self.cfg["wdt_s"])
        # Collect early and often: garbage then never piles up into a fragmented heap.
        gc.threshold(GC_EVERY)
        # The clock task first: on the unix port it syncs before the first sample is taken.
        self.tasks = [asyncio.create_task(self._guard(n, f)) for n, f in (
            ("clock", lambda: h.clock_task(self.clock, self.cfg, self.log)), ("sampler", self._sampler),
            ("net", self._net), ("publisher", self.pub.run), ("house", self._house))]
        if getattr(self.guard, "resume", False):
            self.ota_client()  # an update cut short by a reset goes on
        await self.done.wait()
        for t in self.tasks:
            t.cancel()
        await asyncio.sleep_ms(0)
        ob.flush()
        ob.save()
        if self.result == "reboot":
            await self.client.disconnect()
        else:
            self.client.close("stopped")
        self._heap()
        self.stats("final")
        return self.result

    async def _guard(self, name, fn):
        # A task that fails (a bug, a MemoryError) is logged and restarted, never silently gone.
        while True:
            try:
                return await fn()
            except Exception as e:
                self.crashes += 1
                self.log("%s: failed (%s: %s), restarting" % (name, type(e).__name__, e))
                gc.collect()
                await asyncio.sleep_ms(1000)

    def finish(self, result):
        self.result = result
        self.done.set()

    def stats(self, what="stats"):
        c = self.client
        ob = self.outbox
        self.log("%s boot=%d seq=%d samples=%d flushed=%d acked=%d outbox=%d dropped=%d heap_peak=%d heap_free=%d "
                 "bytes_out=%d retransmits=%d connects=%d crashes=%d flash_full=%d%s"
                 % (what, self.boot, self.seq, self.samples, self.samples - ob.buf_n, self.pub.acked,
                    ob.pending, ob.dropped, self.heap_peak, self.heap_free, c.bytes_out, c.retransmits,
                    self.connects, self.crashes, ob.shrunk, self._flash_stats()))

    def _flash_stats(self):
        fs = self.hal.flash_stats()
        return " erases=%d programmed=%d" % fs if fs else ""

    def _heap(self):
        # The heap high-water mark: the largest live heap seen right after a collection.
        gc.collect()
        a = gc.mem_alloc()
        self.heap_free = gc.mem_free()
        if a > self.heap_peak:
            self.heap_peak = a

    # -- sampling -----------------------------------------------------------------------------
    async def _sampler(self):
        ck = self.clock
        stop = self.cfg["stop_after"]
        for s in self.sensors:
            s.next = ck.uptime_ms()
        while True:
            now = ck.uptime_ms()
            iv = int(self.cfg["interval_s"] * 1000) or 1
            vals = None
            for s in self.sensors:
                if now >= s.next:
                    v = await s.read(ck)
                    per = s.own_ms or iv
                    s.next += per
                    if s.next <= now:
                        s.next = now + per  # fell behind: skip, no burst
                    if v:
                        if vals is None:
                            vals = v
                        else:
                            vals.update(v)
            if vals:
                self.record(vals, now)
            self.sample_beat = ticks_ms()
            if stop and self.samples >= stop:
                self.sampling = False
                self.flush()
                return
            nxt = min(s.next for s in self.sensors) if self.sensors else now + iv
            await asyncio.sleep_ms(max(0, nxt - ck.uptime_ms()))

    def record(self, vals, up):
        # One reading into the outbox (RAM buffer now, flash at the next batched write).
        vb = PL.values(vals)
        if len(vb) > MAX_VALUES:
            self.log("sample: reading too large (%d bytes), left out" % len(vb))
            return
        base = self.clock.base
        if base is not None:
            w = self.outbox.append(self.boot, self.seq, KIND_TS, base + up, vb)
        else:
            w = self.outbox.append(self.boot, self.seq, KIND_UP, up, vb)
        if w:
            self.pub.wake.set()
        self.seq += 1
        self.samples += 1
        if self.buf_since is None:
            self.buf_since = ticks_ms()
        if not self.flush_ms():
            self.flush()

    def flush_ms(self):
        # Each flash write costs about one 4 KiB block erase on littlefs (the last block of the
        # segment is copied on write), so by default readings are written 16 at a time: the flash
        # then wears at <= 0.1 erase per reading, and a power cut loses at most this long of them.
        ms = self.cfg["flush_ms"]
        if ms is None:
            ms = max(1000, int(FLUSH_READINGS * self.cfg["interval_s"] * 1000))
        return ms

    def flush(self):
        self.buf_since = None
        if self.outbox.flush():
            self.pub.wake.set()

    # -- connection ---------------------------------------------------------------------------
    async def _net(self):
        m = self.cfg["mqtt"]
        bo = M.Backoff(int(m["backoff_min_s"] * 1000), int(m["backoff_max_s"] * 1000))
        tls = None
        c = self.client
        from .transport import StreamTransport, tls_context

        while True:
            t0 = ticks_ms()
            up = False
            try:
                if tls is None:
                    tls = tls_context(m)
                await self.hal.network_up()
                if m["tls"] and not m["tls_insecure"] and not self.clock.synced():
                    # Certificates are checked against the board's clock, which starts at 2000:
                    # every handshake would fail until NTP has set it.
                    self.log("mqtt: waiting for the clock before TLS (certificate dates)")
                    while not self.clock.synced():
                        await asyncio.sleep_ms(200)
                sp = await c.connect(StreamTransport(m["host"], m["port"], tls))
                up = True
                self.connects += 1
                await c.subscribe(self.topics.cmd, 1)
                await c.subscribe(self.topics.ota_data, 0)
                self.queue_status(first=True)
                self.log("mqtt: connected to %s:%d (session present: %s, resent %d)"
                         % (m["host"], m["port"], sp, len(c.order)))
                self.pub.wake.set()
                why = await c.wait_closed()
            except M.MQTTError as e:
                why = str(e)
            except Exception as e:
                why = M.describe(e)
            c.close()
            if up and ticks_diff(ticks_ms(), t0) > 10000:
                bo.reset()
            d = bo.next()
            self.log("mqtt: %s; reconnecting in %d ms" % (why, d))
            await asyncio.sleep_ms(d)

    # -- commands -----------------------------------------------------------------------------
    async def _on_message(self, topic, payload, retain):
        if topic == self.topics.ota_data:
            if self.ota:
                self.ota.on_data(payload)
            return
        if topic != self.topics.cmd:
            return
        res = self.cmds.handle(payload)
        p = self.pub
        kind = RESULT
        if self.reboot_at is not None and not p.reboot_acked and not p.queued(REBOOT):
            kind = REBOOT
        p.send(kind, self.topics.result, res)

    # -- status -------------------------------------------------------------------------------
    def status(self):
        ob = self.outbox
        self._heap()
        st = {"online": True, "fw": self.fw, "hal": self.hal.name, "boot": self.boot,
              "uptime_s": self.clock.uptime_ms() // 1000, "rssi": self.hal.rssi(),
              "heap_free": self.heap_free, "heap_peak": self.heap_peak, "outbox": ob.pending,
              "dropped": ob.dropped, "outbox_kb": ob.max_segs * ob.seg_bytes // 1024, "flash_full": ob.shrunk,
              "reset_cause": self.hal.reset_cause(), "interval_s": self.cfg["interval_s"],
              "batch_max": self.cfg["batch_max"], "synced": self.clock.synced(),
              "sensor_errors": sum(s.errors for s in self.sensors), "crashes": self.crashes,
              "crash_boots": self.guard.crashes["n"] if self.guard else 0}
        if self.cfg["mqtt"]["tls_insecure"]:
            st["tls_insecure"] = True
        if self.ota:
            self.ota.status(st)
        else:
            g = self.ota_state
            st["ota"] = g.get("state") or "idle"
            for k in ("v", "reason"):
                if g.get(k):
                    st["ota_" + k] = g[k]
        return st

    def queue_status(self, first=False):
        self.pub.send_status(PL.status(self.status()), first)

    # -- updates ------------------------------------------------------------------------------
    def ota_client(self):
        if self.ota is None:
            from .ota import Ota

            self.ota = Ota(self, self.guard, self.cfg, self.fw)
            self.tasks.append(asyncio.create_task(self._guard("ota", self.ota.run)))
        return self.ota

    def _healthy(self):
        # Connected, birth and readings acknowledged: the crash streak ends, an app on trial is kept.
        if self.guard and self.guard.healthy():
            self.log("ota: %s is healthy: kept" % self.fw)
            if self.ota:
                self.ota.state = "idle"
            self.queue_status()

    # -- housekeeping -------------------------------------------------------------------------
    async def _house(self):
        cfg = self.cfg
        ob = self.outbox
        c = self.client
        last_save = last_status = last_log = last_heap = ticks_ms()
        while True:
            await asyncio.sleep_ms(100)
            now = ticks_ms()
            self.clock.uptime_ms()
            if self.buf_since is not None and ticks_diff(now, self.buf_since) >= self.flush_ms():
                self.flush()
            if ob.dirty and ticks_diff(now, last_save) >= SAVE_MS:
                ob.save()
                last_save = now
            if ticks_diff(now, last_heap) >= 1000:
                self._heap()
                last_heap = now
            if c.connected and ticks_diff(now, last_status) >= cfg["status_s"] * 1000:
                self.queue_status()
                last_status = now
            if cfg["log_s"] and ticks_diff(now, last_log) >= cfg["log_s"] * 1000:
                self.stats()
                last_log = now
            # The watchdog is fed only while both loops make progress.
            iv = int(cfg["interval_s"] * 1000)
            for s in self.sensors:
                if s.own_ms and s.own_ms > iv:
                    iv = s.own_ms
            if ticks_diff(now, self.sample_beat) < iv + SAMPLE_GRACE_MS and ticks_diff(now, self.pub.beat) < PUB_GRACE_MS:
                self.hal.wdt_feed()
            if self.reboot_at is not None and (self.pub.reboot_acked
                                               or ticks_diff(now, self.reboot_at) > 5000):
                self.finish("reboot")
            if self.ota_reboot is not None and (self.pub.idle() or ticks_diff(now, self.ota_reboot) > 5000):
                self.finish("reboot")  # into the staged update (the outbox goes to flash first)
            if self.guard and getattr(self.guard, "expired", False):
                self.log("ota: %s was not healthy in time: rebooting to roll it back" % self.fw)
                self.finish("reboot")
            if not self.sampling and not ob.pending and not ob.blen and self.pub.idle():
                self.finish("done")


class Device:
    # What a command may see and do on the running firmware: commands.Commands gets this, not the App.
    def __init__(self, app):
        self._app = app
        self.boot = app.boot

    def log(self, msg):
        self._app.log(msg)

    def uptime_ms(self):
        return self._app.clock.uptime_ms()

    def setting(self, key):
        return self._app.cfg[key]

    def set(self, new):
        a = self._app
        a.cfg.update(new)
        save_settings(a.cfg_path, new)  # persisted: the next boot keeps it

    def command_done(self, op):
        if op == "set":
            self._app.queue_status()

    def flush(self):
        a = self._app
        a.flush()
        return a.outbox.pending

    def reboot(self):
        self._app.reboot_at = ticks_ms()

    def ota(self, args):
        return self._app.ota_client().start(args)

    def maintenance(self):
        # The next boot starts neither the firmware nor the watchdog, for work over USB.
        guard = self._app.guard
        if guard is None:
            raise OSError("no boot guard")
        guard.enter_maintenance("maint command")
        self.reboot()
