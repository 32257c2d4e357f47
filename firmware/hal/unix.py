# The unix-port HAL: a "virtual board" whose flash is the current directory. No WiFi, no watchdog,
# the clock is synced from the host (time.time() is real epoch time there), and the hardware
# sensors get simulated buses (hal/fakes.py) so the real drivers run against emulated chips.
import sys
import time
import asyncio


class Hal:
    name = "unix"
    crash_delay_ms = 500

    def __init__(self):
        self.cause = "power_on"
        self.cfg = None
        self.buses = {}
        self.gen = 0  # reboots in this process (a watch() of an earlier boot then does nothing)

    def configure(self, cfg):
        self.cfg = cfg

    def log(self, msg):
        print(msg)

    async def network_up(self):
        return True

    def rssi(self):
        return None

    def reset_cause(self):
        return self.cause

    def wdt_start(self, seconds):
        pass

    def wdt_feed(self):
        pass

    def reboot(self):
        # The firmware runs again in this process (flash = the directory), as after the board's reset.
        self.cause = "reboot"
        self.gen += 1

    def watch(self, ms, fn, grace_ms=3000):
        # Calls fn() after ms even if the firmware hangs (a thread: the port has no hardware timer).
        # When fn() returns True the firmware has grace_ms to reboot; if it has not, the process is
        # killed as the board's watchdog would reset it (the unix port has no watchdog of its own).
        import _thread

        gen = self.gen

        def run():
            time.sleep_ms(ms)
            if self.gen != gen or not fn():
                return
            time.sleep_ms(grace_ms)
            if self.gen == gen:
                print("watch: no reboot after the trial's time: resetting")
                import os

                os.system("kill -9 $PPID")

        _thread.start_new_thread(run, ())

    def crash_reset(self):
        # The process ends (exit 3); whoever runs the virtual board starts it again, as the chip would.
        sys.exit(3)

    def halt(self, code=0):
        # Nothing more to run (bad config: 2, stop_after reached: 0): the process exits with it.
        sys.exit(code)

    async def clock_task(self, clock, cfg, log):
        # clock_delay_s: 0 = synced at once (default), N = after N s (like a late NTP), < 0 = never.
        d = cfg.get("clock_delay_s", 0)
        if d < 0:
            return
        if d:
            await asyncio.sleep_ms(int(d * 1000))
        while True:
            clock.set_epoch_ms(time.time_ns() // 1000000)
            await asyncio.sleep_ms(3600000)

    # -- simulated buses ----------------------------------------------------------------------
    def _fake(self, key, make):
        b = self.buses.get(key)
        if b is None:
            b = self.buses[key] = make()
        return b

    def i2c(self, name):
        from hal.fakes import FakeI2C

        return self._fake("i2c:" + str(name), lambda: FakeI2C(self.cfg["device_id"] if self.cfg else "x"))

    def onewire(self, pin):
        from hal.fakes import FakeOneWire

        return self._fake("ow:%s" % pin, lambda: FakeOneWire(self.cfg["device_id"] if self.cfg else "x", 2))

    def dht(self, pin):
        from hal.fakes import fake_dht

        return fake_dht(self.cfg["device_id"] if self.cfg else "x")

    def adc(self, pin, atten=None):
        from hal.fakes import FakeADC

        return FakeADC(pin)

    def flash_stats(self):
        # (block erases, bytes programmed) when the board's flash is a littlefs image (hal/flash.py)
        fl = sys.modules.get("hal.flash")
        return fl.DEVICE.stats() if fl and fl.DEVICE else None

    def mcu_temperature(self):
        return 45.0 + (time.time() % 60) / 60
