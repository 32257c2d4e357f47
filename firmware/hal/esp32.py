# The ESP32 HAL: the only module that imports machine / network. WiFi station, hardware watchdog,
# reset cause, buses for the drivers, internal temperature, SNTP for the clock and the RTC.
# Written against the ESP32 port of MicroPython 1.24-1.29 (checked with its published stubs and
# run in the tests on the unix port with modules that behave as the port documents).
import asyncio
import machine
import network

# The ADC2 unit of the original ESP32 is shared with the WiFi radio: while WiFi is on, reads fail
# or, on some IDF versions, return stale values without an error. The firmware keeps WiFi on.
ADC2_PINS = (0, 2, 4, 12, 13, 14, 15, 25, 26, 27)
ATTEN = (("0db", "ATTN_0DB"), ("2.5db", "ATTN_2_5DB"), ("6db", "ATTN_6DB"), ("11db", "ATTN_11DB"))

# Why the firmware itself reset the board, kept in RTC memory (it survives machine.reset() and a
# panic, not a power cut): the port reports every one of those as HARD_RESET.
MARK_REBOOT = b"sf:reboot"
MARK_CRASH = b"sf:crash"


def rtc_datetime(ms):
    # Epoch ms -> the tuple machine.RTC().datetime() takes: (y, m, d, weekday 0=Mon, h, min, s, us).
    # Integer calendar arithmetic (days from civil), so neither the port's epoch nor its
    # single-precision floats matter.
    secs, rem = divmod(ms, 1000)
    days, s = divmod(secs, 86400)
    wd = (days + 3) % 7  # 1970-01-01 was a Thursday
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    y = yoe + era * 400 + (1 if m <= 2 else 0)
    return (y, m, d, wd, s // 3600, s // 60 % 60, s % 60, rem * 1000)


def check_adc(pin, atten):
    # -> an error message for an ADC sensor this board cannot read, or None.
    if pin in ADC2_PINS:
        return "pin %s is on ADC2, which does not work while WiFi is on; use GPIO 32-39" % pin
    if atten is not None and atten not in [k for k, _ in ATTEN]:
        return "atten must be one of %s (got %s)" % (", ".join(k for k, _ in ATTEN), atten)
    return None


class Hal:
    name = "esp32"
    crash_delay_ms = 10000  # after a crash: time to read the console, and no tight reset loop

    def __init__(self):
        self.cfg = None
        self.wlan = None
        self.wdt = None
        self.buses = {}
        self.cause = self._read_cause()

    @staticmethod
    def _read_cause():
        rtc = machine.RTC()
        mark = rtc.memory()
        rtc.memory(b"")
        c = machine.reset_cause()
        if c == machine.HARD_RESET:
            if mark == MARK_REBOOT:
                return "reboot"
            if mark == MARK_CRASH:
                return "crash"
            return "hard"  # a panic, the reset button on some boards, or machine.reset() from the REPL
        for name, attr in (("power_on", "PWRON_RESET"), ("wdt", "WDT_RESET"), ("deepsleep", "DEEPSLEEP_RESET"),
                           ("soft", "SOFT_RESET")):
            if c == getattr(machine, attr, None):
                return name
        return "other"

    def configure(self, cfg):
        from sensorfleet.config import ConfigError

        self.cfg = cfg
        w = cfg.get("wifi")
        errors = []
        if not (isinstance(w, dict) and isinstance(w.get("ssid"), str) and w["ssid"]):
            errors.append("wifi.ssid is required on the board")
        for i, s in enumerate(cfg["sensors"]):
            if s["type"] == "adc":
                e = check_adc(s.get("pin"), s.get("atten"))
                if e:
                    errors.append("sensors[%d]: %s" % (i, e))
        if errors:
            raise ConfigError("config.json: " + "; ".join(errors))

    def log(self, msg):
        print(msg)

    async def network_up(self):
        if self.wlan is None:
            self.wlan = network.WLAN(network.STA_IF)
            self.wlan.active(True)
        w = self.wlan
        if w.isconnected():
            return True
        wifi = self.cfg["wifi"]
        try:
            w.disconnect()
        except OSError:
            pass
        w.connect(wifi["ssid"], wifi.get("password") or "")
        for _ in range(100):  # 20 s
            if w.isconnected():
                self.log("wifi: connected, %s" % (w.ifconfig()[0],))
                return True
            await asyncio.sleep_ms(200)
        raise OSError("WiFi: could not join %r (status %s)" % (wifi["ssid"], w.status()))

    def rssi(self):
        try:
            return self.wlan.status("rssi") if self.wlan and self.wlan.isconnected() else None
        except Exception:
            return None

    def reset_cause(self):
        return self.cause

    def wdt_start(self, seconds):
        # Once started, nothing stops it (not even a soft reset): maintenance never gets here.
        if seconds and self.wdt is None:
            self.wdt = machine.WDT(timeout=seconds * 1000)

    def wdt_feed(self):
        if self.wdt:
            self.wdt.feed()

    def reboot(self):
        machine.RTC().memory(MARK_REBOOT)
        machine.reset()

    def crash_reset(self):
        machine.RTC().memory(MARK_CRASH)
        machine.reset()

    def watch(self, ms, fn, grace_ms=3000):
        # Calls fn() after ms from a hardware timer (a soft callback: it runs between two bytecodes
        # even while the firmware is stuck in a loop; a hang in C is the watchdog's). When fn()
        # returns True the firmware has grace_ms to reboot before the timer resets the board.
        t = machine.Timer(0)

        def bite(_):
            machine.reset()

        def due(_):
            if fn():
                t.init(mode=machine.Timer.ONE_SHOT, period=grace_ms, callback=bite)

        t.init(mode=machine.Timer.ONE_SHOT, period=ms, callback=due)

    def halt(self, code=0):
        # Nothing more to run (bad config, or stop_after reached). Returning would leave a started
        # watchdog to reset the board and run it again, and sys.exit() soft-resets on the ESP32:
        # stay here, feeding the watchdog if it runs; Ctrl-C (mpremote) still reaches the REPL.
        import time

        while True:
            self.wdt_feed()
            time.sleep(1)

    def flash_stats(self):
        return None  # the chip does not count its erases

    def set_rtc(self, ms):
        # mbedTLS checks certificate dates against the RTC, which starts at 2000 after power-on.
        machine.RTC().datetime(rtc_datetime(ms))

    async def clock_task(self, clock, cfg, log):
        from sensorfleet.ntp import ntp_task

        while not (self.wlan and self.wlan.isconnected()):
            await asyncio.sleep_ms(500)
        await ntp_task(clock, cfg["ntp_host"], log=log, on_sync=self.set_rtc)

    # -- buses for the drivers ----------------------------------------------------------------
    def i2c(self, name):
        b = self.buses.get(name)
        if b is None:
            c = self.cfg["buses"].get(name) or {}
            bid = c.get("id", 0 if name == "i2c0" else 1)
            b = machine.I2C(bid, scl=machine.Pin(c.get("scl", 22)), sda=machine.Pin(c.get("sda", 21)),
                            freq=c.get("freq", 100000))
            self.buses[name] = b
        return b

    def onewire(self, pin):
        import onewire

        return onewire.OneWire(machine.Pin(pin))

    def dht(self, pin):
        # machine.dht_readinto since MicroPython 1.20 (it was esp.dht_readinto before).
        p = machine.Pin(pin, machine.Pin.OPEN_DRAIN)
        return lambda buf: machine.dht_readinto(p, buf)

    def adc(self, pin, atten=None):
        a = machine.ADC(machine.Pin(pin))
        if atten:
            a.atten(getattr(machine.ADC, dict(ATTEN)[atten]))
        return a

    def mcu_temperature(self):
        import esp32

        read = getattr(esp32, "mcu_temperature", None)  # S2, S3, C3; the original ESP32 has only raw
        if read:
            return read()
        return (esp32.raw_temperature() - 32) / 1.8
