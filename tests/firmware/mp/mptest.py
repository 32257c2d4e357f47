# A tiny test runner for MicroPython: runs every test_* function of a module (async ones through
# asyncio), prints PASS/FAIL per test and exits 1 if any failed, so the pytest wrapper fails too.
import asyncio
import sys


def run(modname, only=None):
    mod = __import__(modname)
    names = sorted(n for n in dir(mod) if n.startswith("test_") and (only is None or n == only))
    failed = 0
    for n in names:
        try:
            r = getattr(mod, n)()
            if type(r).__name__ == "generator":  # an async def test
                asyncio.new_event_loop()
                asyncio.run(r)
            print("PASS", n)
        except Exception as e:
            failed += 1
            print("FAIL", n)
            sys.print_exception(e)
    print("mptest: %d ok, %d failing" % (len(names) - failed, failed))
    sys.exit(1 if failed or not names else 0)


def eq(a, b, msg=""):
    if a != b:
        raise AssertionError("%r != %r %s" % (a, b, msg))


def raises(exc, fn, *args):
    try:
        fn(*args)
    except exc as e:
        return e
    raise AssertionError("%s not raised" % exc.__name__)


def tmpdir(name):
    # A fresh directory under the current one (the pytest wrapper runs us in a temp dir).
    import os

    path = name
    try:
        for f in os.listdir(path):
            p = path + "/" + f
            try:
                os.remove(p)
            except OSError:
                for g in os.listdir(p):
                    os.remove(p + "/" + g)
                os.rmdir(p)
    except OSError:
        os.mkdir(path)
    return path


def esp32port(fresh=True):
    # Puts the ESP32 port's machine/network/esp32 stand-ins (mp/esp32port/) ahead of the unix
    # port's own modules; fresh=True starts from a power-on (no RTC memory, RTC at 2000).
    import os

    for p in sys.path:
        if p.endswith("/mp"):
            if p + "/esp32port" not in sys.path:
                sys.path.insert(0, p + "/esp32port")
            break
    if fresh:
        try:
            os.remove("esp32port.json")
        except OSError:
            pass
    for m in ("machine", "network", "hal.esp32"):
        sys.modules.pop(m, None)
    # hal.esp32 is compiled again at its next import: collected first, the old copy's space is
    # reused rather than fragmented around (the test runs in the 128K heap of a virtual board).
    import gc

    gc.collect()
