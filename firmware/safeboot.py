# The boot guard: nothing the firmware does may leave a board stuck at the REPL or in a reset loop.
#   maint          a file at the root: maintenance. Neither the firmware nor the watchdog is
#                  started (a started watchdog cannot be stopped, and would reset the board in
#                  the middle of USB work); `sensorfleet device deploy` writes and removes it.
#   crash.json     {"n": crash boots in a row, "total": .., "last": "MemoryError: .."}: an
#                  exception out of the firmware (at import, in App(), anywhere) is logged here,
#                  counted, and the board resets after a delay. After SAFE_AFTER crash boots in
#                  a row it boots into safe mode (sensorfleet/safemode.py): connect and answer
#                  commands only. The count goes back to 0 once the firmware is healthy.
# It is also the stub of over-the-air updates (with main.py and safeswap.py, the part never updated):
# the app (every other file of the firmware) runs from the root of the flash, where a USB deploy
# puts it. safeswap.py does the swap and the rollback, imported only when there is an update to
# handle and unloaded after it.
#   next/          an update being staged by the app (sensorfleet/ota.py), file by file
#   next.ok        written atomically once every staged file is verified: swap at the next boot
#   swap.json      the swap's journal: which files leave the root for which directory and which
#                  come in. Every step is a rename that can be redone, so a power cut anywhere in
#                  the swap is finished at the next boot before anything of the app is imported
#   prev/          the app before the last update, kept for a rollback
#   ota.json       {"state": "trial"|"idle"|"rolled_back"|"failed", "v", "fw", "prev_fw", "boots",
#                  "reason"}: the last update and the trial of a new app
#   ota.exp        written when a trial app was not healthy within ota_trial_s
# A new app is on trial: after ota_trial_boots boots (crashes, watchdog resets) or ota_trial_s
# seconds without being healthy, the previous app is swapped back in and the state is rolled_back.
# This module and main.py import as little as possible: they must work when the rest does not.
import sys

MAINT_FLAG = "maint"
CRASH_FILE = "crash.json"
SAFE_AFTER = 3
OTA_FILE = "ota.json"
EXPIRED = "ota.exp"
UPDATE_FILES = (OTA_FILE, "next.ok", "swap.json")  # with none of these there is nothing to do


# File helpers of the boot stub, which the rest of the stub (safeswap.py) and the app's update client
# (sensorfleet/ota.py) use too: the stub is never updated over the air, so they stay as they are.
def exists(p):
    import os

    try:
        os.stat(p)
        return True
    except OSError:
        return False


def write(path, text):
    # Atomically: a temp file renamed over the old one.
    import os

    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.rename(path + ".tmp", path)


def read_json(path, default=None):
    # What a JSON file holds; default when it is missing or not JSON.
    import json

    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def rm(p):
    # A file or a whole tree; what is not there is fine.
    import os

    try:
        for e in os.ilistdir(p):
            rm(p + "/" + e[0])
        os.rmdir(p)
    except OSError:
        try:
            os.remove(p)
        except OSError:
            pass


def dirs_for(path):
    # The directories of path, made where missing.
    import os

    parts = path.split("/")[:-1]
    for i in range(len(parts)):
        d = "/".join(parts[: i + 1])
        if not exists(d):
            os.mkdir(d)


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
        self.ota = {}
        self.trial_ms = 0  # > 0 while the app on the root is on trial: healthy within this, or rollback
        self.good = False
        self.expired = False  # the trial's time is up: the app reboots (and is rolled back)

    def _save(self):
        import json

        try:
            write(CRASH_FILE, json.dumps(self.crashes))
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
        # Called by the firmware once it is healthy (connected, birth and readings acknowledged):
        # the crash streak is over, and an app on trial is kept. -> True when a trial ended here.
        self.good = True
        if self.crashes["n"]:
            self.crashes["n"] = 0
            self._save()
        if self.ota.get("state") == "trial":
            self.set_ota(state="idle", boots=0, reason="")
            self.trial_ms = 0
            return True
        return False

    def leave_safe_mode(self):
        if self.crashes["n"]:
            self.crashes["n"] = 0
            self._save()

    def enter_maintenance(self, why):
        write(MAINT_FLAG, why)

    # -- updates --------------------------------------------------------------------------------
    def set_ota(self, **kw):
        import json

        self.ota.update(kw)
        write(OTA_FILE, json.dumps(self.ota))

    def boot_ota(self, maint):
        # Before anything of the app is imported: finish a swap cut short, swap in a staged update,
        # count a trial boot or roll a trial back (safeswap.py). -> True when the app changed.
        self.trial_ms = 0
        changed = False
        if any(exists(p) for p in UPDATE_FILES):
            import safeswap

            try:
                changed = safeswap.boot(self, maint)
            finally:
                sys.modules.pop("safeswap", None)  # unloaded: its code is not needed again this boot
        else:
            self.ota = {}
        # A download the app goes on with; looked for after the swap, which ends the one it installs
        # (loading the update client for nothing would cost the app a tenth of its heap).
        self.resume = exists("next/.want.json")
        return changed

    def expire(self):
        # The trial timer (the HAL's watch()): -> True when the app must reboot now to be rolled
        # back; the HAL resets the board itself if the app has not done so shortly after.
        if self.good or not self.trial_ms:
            return False
        write(EXPIRED, "")
        self.expired = True
        return True


def _hal():
    if sys.platform == "esp32":
        from hal.esp32 import Hal
    else:
        from hal.unix import Hal
    return Hal()


def _boot(hal, guard):
    # -> "reboot" when the firmware asked for one and the port let it return (the unix port).
    if exists(MAINT_FLAG):
        hal.log("maintenance: ./%s is present, so neither the firmware nor the watchdog is started; "
                "remove it and reset to run the firmware" % MAINT_FLAG)
        return None
    if guard.crashes["n"] >= SAFE_AFTER:
        from sensorfleet.safemode import main
    else:
        from sensorfleet.boot import main
    if guard.trial_ms:
        w = getattr(hal, "watch", None)
        if w:
            w(guard.trial_ms, guard.expire)
    return main(hal, guard)


def run():
    guard = Guard()
    hal = None
    try:
        guard.boot_ota(exists(MAINT_FLAG))
        hal = _hal()
        while _boot(hal, guard) == "reboot":
            _let_go()  # in-process only on the unix port: from as empty a heap as a reset leaves
            guard.good = guard.expired = False
            if guard.boot_ota(exists(MAINT_FLAG)):  # another app on the root: its own HAL
                for m in [m for m in sys.modules if m[:4] == "hal." and m != "hal.flash"]:
                    sys.modules.pop(m)
                cause = hal.cause
                hal = _hal()
                hal.cause = cause
    except Exception as e:  # MemoryError and OSError included; SystemExit and Ctrl-C are not
        _crash(guard, hal, e)


def _let_go():
    # Frees what the app held: its modules and the tasks it left in the event loop.
    for m in [m for m in sys.modules if m.split(".")[0] in ("sensorfleet", "drivers")]:
        sys.modules.pop(m)
    aio = sys.modules.get("asyncio")
    if aio:
        aio.new_event_loop()
    import gc

    gc.collect()


def _crash(guard, hal, e):
    # Records the crash and resets. Nothing here may keep the reset from coming: an exception out
    # of main.py leaves an ESP32 at the REPL, without its app, until someone comes with a cable.
    # An app that ran out of heap leaves none for the record either, so it is let go of first.
    _let_go()
    delay = hal.crash_delay_ms if hal else 10000 if sys.platform == "esp32" else 500
    try:
        guard.crashed(e)
        print("CRASH (%d in a row, %d in all), resetting in %d s:" % (guard.crashes["n"], guard.crashes["total"],
                                                                     delay // 1000))
        sys.print_exception(e)
    except Exception:  # noqa: BLE001  not even the record fits: it is lost, the reset is not
        pass
    import time

    time.sleep_ms(delay)
    if hal:
        hal.crash_reset()
    # Without a HAL (it did not even import): sys.exit() is a soft reset on the ESP32.
    sys.exit(3)
