# The ESP32 HAL: the only module that imports machine / network. WiFi station, hardware watchdog,
# reset cause, buses for the drivers, internal temperature, SNTP for the clock.
import asyncio
import machine
import network


CAUSES = {}
for _n, _v in (("power_on", "PWRON_RESET"), ("hard", "HARD_RESET"), ("wdt", "WDT_RESET"),
               ("deepsleep", "DEEPSLEEP_RESET"), ("soft", "SOFT_RESET")):
    if hasattr(machine, _v):
        CAUSES[getattr(machine, _v)] = _n


class Hal:
    name = "esp32"

    def __init__(self):
        self.cfg = None
        self.wlan = None
        self.wdt = None
        self.buses = {}

    def configure(self, cfg):
        self.cfg = cfg
        w = cfg.get("wifi")
        if not (isinstance(w, dict) and isinstance(w.get("ssid"), str) and w["ssid"]):
            from sensorfleet.config import ConfigError

            raise ConfigError("config.json: wifi.ssid is required on the board")

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
                print("wifi: connected, %s" % (w.ifconfig()[0],))
                return True
            await asyncio.sleep_ms(200)
        raise OSError("WiFi: could not join %r (status %s)" % (wifi["ssid"], w.status()))

    def rssi(self):
        try:
            return self.wlan.status("rssi") if self.wlan and self.wlan.isconnected() else None
        except Exception:
            return None

    def reset_cause(self):
        return CAUSES.get(machine.reset_cause(), "other")

    def wdt_start(self, seconds):
        if seconds and self.wdt is None:
            self.wdt = machine.WDT(timeout=seconds * 1000)

    def wdt_feed(self):
        if self.wdt:
            self.wdt.feed()

    def reboot(self):
        machine.reset()

    def idle_forever(self, code=2):
        # A bad config on the board: no reset loop. Stay up (REPL and mpremote still work) until fixed.
        import time

        while True:
            time.sleep(60)

    async def clock_task(self, clock, cfg, log):
        from sensorfleet.ntp import ntp_task

        while not (self.wlan and self.wlan.isconnected()):
            await asyncio.sleep_ms(500)
        await ntp_task(clock, cfg["ntp_host"], log=log)

    # -- buses for the drivers ----------------------------------------------------------------
    def i2c(self, name):
        b = self.buses.get(name)
        if b is None:
            c = self.cfg.get("buses", {}).get(name) or {}
            bid = c.get("id", 0 if name == "i2c0" else 1)
            b = machine.I2C(bid, scl=machine.Pin(c.get("scl", 22)), sda=machine.Pin(c.get("sda", 21)),
                            freq=c.get("freq", 100000))
            self.buses[name] = b
        return b

    def onewire(self, pin):
        import onewire

        return onewire.OneWire(machine.Pin(pin))

    def dht(self, pin):
        from esp import dht_readinto

        p = machine.Pin(pin, machine.Pin.OPEN_DRAIN)
        return lambda buf: dht_readinto(p, buf)

    def adc(self, pin, atten=None):
        a = machine.ADC(machine.Pin(pin))
        if atten:
            a.atten(getattr(machine.ADC, "ATTN_" + atten.upper()))
        return a

    def mcu_temperature(self):
        import esp32

        if hasattr(esp32, "mcu_temperature"):
            return esp32.mcu_temperature()
        return (esp32.raw_temperature() - 32) / 1.8
