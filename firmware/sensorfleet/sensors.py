# Sensors from config, each with its own schedule. A sensor wraps a driver (drivers/, which takes
# its bus as an argument) and the bus the HAL gives it. Drivers are imported only when configured.
# A sensor that fails (absent, bad CRC, bus error) is retried at its next turn and counted.
import asyncio


class Sensor:
    def __init__(self, i, cfg, hal, seed):
        self.i = i
        self.cfg = cfg
        self.type = cfg["type"]
        self.hal = hal
        self.seed = seed
        self.prefix = cfg.get("name")
        self.own_ms = int(cfg["interval_s"] * 1000) if cfg.get("interval_s") else None
        self.next = 0
        self.errors = 0
        self.last_error = None
        self.dev = None

    def label(self):
        return "sensors[%d] %s" % (self.i, self.type)

    def _open(self):
        c = self.cfg
        t = self.type
        h = self.hal
        if t == "sim":
            from drivers.sim import Sim

            return Sim(self.seed, c["metrics"])
        if t == "bme280":
            from drivers.bme280 import BME280

            return BME280(h.i2c(c.get("bus", "i2c0")), c.get("addr", 0x76))
        if t == "sht3x":
            from drivers.sht3x import SHT3x

            return SHT3x(h.i2c(c.get("bus", "i2c0")), c.get("addr", 0x44))
        if t == "ds18b20":
            from drivers.ds18b20 import DS18B20

            return DS18B20(h.onewire(c["pin"]))
        if t == "dht22":
            from drivers.dht22 import DHT22

            return DHT22(h.dht(c["pin"]))
        if t == "adc":
            from drivers.adc import ADCSensor

            return ADCSensor(h.adc(c["pin"], c.get("atten")), c.get("metric", "voltage"),
                             c.get("scale", 1.0), c.get("offset", 0.0))
        if t == "internal":
            from drivers.internal import Internal

            return Internal(h.mcu_temperature)
        raise ValueError("unknown sensor type")

    async def read(self, clock):
        try:
            if self.dev is None:
                self.dev = self._open()
            d = self.dev
            if self.type == "sim":
                now = clock.now_ms()
                v = d.read(now if now is not None else clock.uptime_ms())
            else:
                w = d.start()  # start a measurement; returns ms to wait
                if w:
                    await asyncio.sleep_ms(w)
                v = d.result()
        except Exception as e:
            self.errors += 1
            self.dev = None if self.type != "sim" else self.dev
            msg = "%s: %s" % (type(e).__name__, e)
            if msg != self.last_error:
                print("sensor: %s failed: %s" % (self.label(), msg))
            self.last_error = msg
            return None
        self.last_error = None
        if self.prefix:
            v = {self.prefix + "." + k: x for k, x in v.items()}
        return v


def build(cfg, hal, device_id):
    return [Sensor(i, s, hal, "%s/%d" % (device_id, i)) for i, s in enumerate(cfg["sensors"])]
