# The boot guard: nothing the firmware does may leave a board stuck at the REPL or in a reset loop.
#   maint          a file at the root: maintenance. Neither the firmware nor the watchdog is
#                  started (a started watchdog cannot be stopped, and would reset the board in
#                  the middle of USB work); `sensorfleet device deploy` writes and removes it.
#   crash.json     {"n": crash boots in a row, "total": .., "last": "MemoryError: .."}: an
#                  exception out of the firmware (at import, in App(), anywhere) is logged here,
#                  counted, and the board resets after a delay. After SAFE_AFTER crash boots in
#                  a row it boots into safe mode (sensorfleet/safemode.py): connect and answer
#                  commands only. The count goes back to 0 once the firmware is healthy.
# This module and main.py import as little as possible: they must work when the rest does not.
import sys

MAINT_FLAG = "maint"
CRASH_FILE = "crash.json"
SAFE_AFTER = 3


def _exists(p):
    import os

    try:
        os.stat(p)
        return True
    except OSError:
        return False


def _write(path, text):
    import os

    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.rename(path + ".tmp", path)


class Guard:
    def __init__(self):
        self.crashes = {"n": 0, "total": 0, "last": ""}
        try:
            import json

            with open(CRASH_FILE) as f:
                d = json.load(f)
            self.crashes = {"n": int(d["n"]), "total": int(d["total"]), "last": str(d["last"])}
        except (OSError, ValueError, KeyError, TypeError):
            pass

    def _save(self):
        import json

        try:
            _write(CRASH_FILE, json.dumps(self.crashes))
        except OSError as e:  # a full flash: the count is lost, the reset still happens
            print("crash count not saved: %s" % e)

    def crashed(self, e):
        import io

        buf = io.StringIO()
        sys.print_exception(e, buf)
        c = self.crashes
        c["n"] += 1
        c["total"] += 1
        c["last"] = buf.getvalue()[-600:]
        self._save()

    def healthy(self):
        # Called by the firmware once it has delivered readings: the crash streak is over.
        if self.crashes["n"]:
            self.crashes["n"] = 0
            self._save()

    def leave_safe_mode(self):
        self.healthy()

    def enter_maintenance(self, why):
        _write(MAINT_FLAG, why)


def _hal():
    if sys.platform == "esp32":
        from hal.esp32 import Hal
    else:
        from hal.unix import Hal
    return Hal()


def _boot(hal, guard):
    # -> "reboot" when the firmware asked for one and the port let it return (the unix port).
    if _exists(MAINT_FLAG):
        hal.log("maintenance: ./%s is present, so neither the firmware nor the watchdog is started; "
                "remove it and reset to run the firmware" % MAINT_FLAG)
        return None
    if guard.crashes["n"] >= SAFE_AFTER:
        from sensorfleet.safemode import main
    else:
        from sensorfleet.boot import main
    return main(hal, guard)


def run():
    guard = Guard()
    hal = None
    try:
        hal = _hal()
        while _boot(hal, guard) == "reboot":
            # In-process only on the unix port: start from as empty a heap as a reset would.
            for m in [m for m in sys.modules if m.split(".")[0] in ("sensorfleet", "drivers")]:
                sys.modules.pop(m)
            import asyncio
            import gc

            asyncio.new_event_loop()  # lets go of the tasks the last run left in the loop
            gc.collect()
    except Exception as e:  # MemoryError and OSError included; SystemExit and Ctrl-C are not
        guard.crashed(e)
        delay = hal.crash_delay_ms if hal else 10000 if sys.platform == "esp32" else 500
        print("CRASH (%d in a row, %d in all), resetting in %d s:" % (guard.crashes["n"], guard.crashes["total"],
                                                                     delay // 1000))
        sys.print_exception(e)
        import time

        time.sleep_ms(delay)
        if hal:
            hal.crash_reset()
        # Without a HAL (it did not even import): sys.exit() is a soft reset on the ESP32.
        sys.exit(3)
