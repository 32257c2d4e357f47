# Updates, the boot stub's part (safeboot.py, safeswap.py): the swap, a power cut between any two of
# its renames, the trial and the rollback.
import json
import os

import safeboot
import safeswap

from flashdir import enter, leave, read
from mptest import eq
from otafeed import Bundle

OLD = {
    "sensorfleet/__init__.py": b'FW = "1.0"\n',
    "sensorfleet/gone.py": b"old only\n",
    "hal/unix.py": b"# old hal\n",
    "tool.py": b"# old top-level module\n",
}
NEW = {
    "sensorfleet/__init__.py": b'FW = "2.0"\n',
    "sensorfleet/added.py": b"new only\n",
    "hal/unix.py": b"# new hal\n",
}


def put(root, tree):
    for p, data in tree.items():
        safeboot.dirs_for(root + p)
        with open(root + p, "wb") as f:
            f.write(data)


def app_at_root():
    return {p: read(p) for p in safeswap._app_files()}


def board_with_staged_update(name):
    enter(name)
    put("", OLD)
    put(
        "",
        {
            "main.py": b"import safeboot\n",
            "safeboot.py": b"# stub\n",
            "config.json": b"{}",
            "data/boot": b"4",
            "ca.pem": b"pem",
        },
    )
    put("next/", NEW)
    put("next/", {".files": Bundle("2.0", NEW).manifest, ".done": b"3", ".want.json": b"{}"})
    with open("next.ok", "w") as f:
        f.write(json.dumps({"v": "2.0", "prev_fw": "1.0"}))


def test_the_stub_swaps_a_staged_update_in_and_keeps_the_previous_app():
    board_with_staged_update("sb1")
    g = safeboot.Guard()
    assert g.boot_ota(False)
    assert not g.resume  # the download it installs is over: the app does not load the update client
    eq(app_at_root(), NEW)
    eq({p: read("prev/" + p) for p in safeswap._files("prev", [])}, OLD)
    for p in ("next", "next.ok", "swap.json"):
        assert p not in os.listdir(), p
    eq(read("main.py"), b"import safeboot\n")
    eq(read("config.json"), b"{}")
    eq(read("ca.pem"), b"pem")
    eq(read("data/boot"), b"4")
    st = json.loads(read("ota.json"))
    eq((st["state"], st["v"], st["fw"], st["prev_fw"], st["boots"]), ("trial", "2.0", "2.0", "1.0", 1))
    eq(g.trial_ms, 300000)
    # healthy: kept
    assert g.healthy()
    eq(json.loads(read("ota.json"))["state"], "idle")
    g = safeboot.Guard()
    assert not g.boot_ota(False)
    eq(g.trial_ms, 0)
    eq(app_at_root(), NEW)
    leave()


class Cut(Exception):
    pass


def test_a_power_cut_between_any_two_renames_of_the_swap_or_rollback_ends_in_one_whole_app():
    real = safeswap._mv
    n = 0
    done = False
    try:
        for k in range(40):
            board_with_staged_update("sb2")
            left = [k]

            def mv(a, b, left=left):
                if left[0] == 0:
                    raise Cut()
                left[0] -= 1
                real(a, b)

            safeswap._mv = mv
            try:
                safeswap.boot(safeboot.Guard(), False)
                done = True
            except Cut:
                done = False
            safeswap._mv = real
            g = safeboot.Guard()
            safeswap.boot(g, False)  # the next boot
            app = app_at_root()
            assert app in (OLD, NEW), (k, sorted(app))
            if app == NEW:
                eq(json.loads(read("ota.json"))["state"], "trial")
                eq({p: read("prev/" + p) for p in safeswap._files("prev", [])}, OLD)
            else:  # cut before the journal was written: the update is still staged
                assert "next.ok" in os.listdir()
            # now a rollback, cut at the same point
            safeswap._mv = mv
            left[0] = k
            g = safeboot.Guard()
            g.crashes["n"] = 3
            try:
                safeswap.boot(g, False)
            except Cut:
                pass
            safeswap._mv = real
            safeswap.boot(safeboot.Guard(), False)
            app = app_at_root()
            st = json.loads(read("ota.json"))
            if st["state"] == "rolled_back":
                eq(app, OLD)
                eq(st["fw"], "1.0")
            else:
                eq(app, NEW)
            leave()
            n += 1
            if done:
                break
    finally:
        safeswap._mv = real
    # the swap (journal, 4 files out, 3 in, commit) was cut at every rename, and ran whole once
    assert done and n == 10, n


def test_a_trial_rolls_back_after_k_boots_crashes_or_the_time():
    for name, setup, why in (
        ("sb3", lambda g: None, "not healthy after 2 boots"),
        (
            "sb4",
            lambda g: g.crashes.update(n=2, last="Traceback\nImportError: no module named 'x'\n"),
            "crashed 2 times: ImportError: no module named 'x'",
        ),
        ("sb5", lambda g: open(safeswap.EXPIRED, "w").close(), "not healthy within 60 s"),
    ):
        board_with_staged_update(name)
        with open("config.json", "w") as f:
            f.write(json.dumps({"ota_trial_boots": 2, "ota_trial_s": 60}))
        g = safeboot.Guard()
        g.boot_ota(False)  # boot 1 of the trial
        eq(g.trial_ms, 60000)
        if name == "sb3":
            g = safeboot.Guard()
            g.boot_ota(False)  # boot 2
            eq(json.loads(read("ota.json"))["boots"], 2)
        g = safeboot.Guard()
        setup(g)
        assert g.boot_ota(False)
        eq(app_at_root(), OLD)
        st = json.loads(read("ota.json"))
        eq((st["state"], st["v"], st["fw"], st["reason"]), ("rolled_back", "2.0", "1.0", why))
        eq(g.crashes["n"], 0)
        eq(g.trial_ms, 0)
        for p in ("next", "swap.json", "ota.exp"):
            assert p not in os.listdir(), p
        leave()


def test_the_trial_timer_asks_for_a_reboot_only_while_not_healthy():
    board_with_staged_update("sb6")
    g = safeboot.Guard()
    g.boot_ota(False)
    g.healthy()
    assert not g.expire()
    leave()
    board_with_staged_update("sb7")
    g = safeboot.Guard()
    g.boot_ota(False)
    assert g.expire() and g.expired
    assert "ota.exp" in os.listdir()
    leave()


def test_maintenance_ends_a_trial_and_leaves_a_staged_update_alone():
    board_with_staged_update("sb8")
    safeboot.Guard().boot_ota(False)
    g = safeboot.Guard()
    g.boot_ota(True)
    st = json.loads(read("ota.json"))
    eq((st["state"], st["fw"]), ("idle", None))
    eq(g.trial_ms, 0)
    leave()
