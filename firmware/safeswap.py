# The boot stub's part of updates (see safeboot.py), never updated over the air itself: imported
# by safeboot before anything of the app, when an update file is on the flash, and unloaded after.
#   next.ok    staged (sensorfleet/ota.py): the files in next/ are verified, swap them in
#              {"v", "prev_fw"}; next/.files lists them
#   swap.json  the journal {"in", "out", "O", "N", "then"}: the app files O at the root go to out/,
#              the files N of in/ come to the root, then "then" becomes ota.json. Written before the
#              first rename; each rename is done only if still to be done, so the journal run again
#              after a power cut at any point ends in the same place. The app never runs before the
#              journal is finished: it is either the old app or the new one, whole.
#   prev/      the previous app, kept until the next update starts staging
#   ota.json   {"state", "v", "fw", "prev_fw", "boots", "reason"}
#   ota.exp    the trial's time ran out (safeboot.Guard.expire)
from safeboot import dirs_for, exists, read_json, rm

MARKER = "next.ok"
JOURNAL = "swap.json"
OTA_FILE = "ota.json"
EXPIRED = "ota.exp"
NEXT = "next"
PREV = "prev"
WANT = NEXT + "/.want.json"  # the app's note of what it stages (sensorfleet/ota.py)
LIST = NEXT + "/.files"  # the verified file list of what is staged
STUB = ("main.py", "safeboot.py", "safeswap.py")
KEEP = STUB + ("config.json", "data", "lib", NEXT, PREV)  # never the app's
TRIAL_BOOTS = 3  # config ota_trial_boots
TRIAL_S = 300  # config ota_trial_s


def _mv(a, b):
    # Every rename of the swap goes through here (the tests cut the power between two of them).
    import os

    os.rename(a, b)


def _write(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    _mv(path + ".tmp", path)


def _files(d, out, pre=""):
    # Every file under d (its paths relative to d), sorted.
    import os

    try:
        ents = sorted((e[0], e[1]) for e in os.ilistdir(d))
    except OSError:
        return out
    for name, kind in ents:
        if kind == 0x4000:
            _files(d + "/" + name, out, pre + name + "/")
        else:
            out.append(pre + name)
    return out


def _app_files():
    # The app at the root: its modules (.py, .mpy) outside main.py, safeboot.py and KEEP.
    out = []
    for p in _files(".", []):
        if p.split("/")[0] not in KEEP and (p[-3:] == ".py" or p[-4:] == ".mpy"):
            out.append(p)
    return out


def _swap(j):
    # Runs (or finishes) the journal j: the files O leave the root for j["out"], the files N come in
    # from j["in"], then j["then"] is the new ota.json. Each rename is done only if still to do, so
    # running it again after a power cut at any point ends in the same place.
    import json
    import os

    src, out = j["in"], j["out"]
    for f in j["O"]:
        if exists(f) and not exists(out + "/" + f):
            dirs_for(out + "/" + f)
            _mv(f, out + "/" + f)
    for f in j["N"]:
        s = src + "/" + f
        if exists(s):
            if exists(f):
                os.remove(f)
            dirs_for(f)
            _mv(s, f)
    _write(OTA_FILE, json.dumps(j["then"]))  # the commit
    rm(MARKER)
    rm(WANT)
    os.remove(JOURNAL)
    rm(src)
    if out != PREV:
        rm(out)  # the app that was rolled back
    rm(EXPIRED)


def _begin(j):
    # Writes the journal (after which nothing is decided any more), then runs it.
    import json

    _write(JOURNAL, json.dumps(j))
    rm(MARKER)
    _swap(j)


def _limits():
    k, t = TRIAL_BOOTS, TRIAL_S
    c = read_json("config.json", {})
    if isinstance(c, dict):
        v = c.get("ota_trial_boots")
        if isinstance(v, int) and 1 <= v <= 100:
            k = v
        v = c.get("ota_trial_s")
        if isinstance(v, (int, float)) and 1 <= v <= 86400:
            t = v
    return k, t


def boot(guard, maint):
    # Finishes a swap cut short, swaps in a staged update, counts a trial boot or rolls a trial back,
    # for the boot guard (safeboot.Guard). -> True when the app on the root changed.
    j = read_json(JOURNAL, None)
    changed = j is not None
    if j is not None:
        _swap(j)
    st = guard.ota = read_json(OTA_FILE, {})
    if not isinstance(st, dict):
        st = guard.ota = {}
    if maint:
        # USB work may put another app on the root: it is what runs next, trial or not.
        if st.get("state") == "trial" or st.get("fw"):
            guard.set_ota(state="idle" if st.get("state") == "trial" else st.get("state"), fw=None, boots=0)
        return changed
    if exists(MARKER):
        _install(guard)
        changed = True
    st = guard.ota
    if st.get("state") != "trial":
        rm(EXPIRED)
        return changed
    k, t = _limits()
    n = guard.crashes["n"]
    why = None
    if exists(EXPIRED):
        why = "not healthy within %s s" % t
    elif n >= k:
        why = "crashed %d times: %s" % (n, str(guard.crashes["last"]).strip().split("\n")[-1][:150])
    elif st.get("boots", 0) >= k:
        why = "not healthy after %d boots" % st.get("boots", 0)
    if why is None:
        guard.set_ota(boots=st.get("boots", 0) + 1)
        guard.trial_ms = int(t * 1000)
        return changed
    _rollback(guard, why)
    return True


def _install(guard):
    # The files to swap in are the app's lines of next/.files, the verified file list: "<path>
    # <size> <sha256>" (sensorfleet/ota.py); each must be staged at its size.
    import os

    m = read_json(MARKER, None)
    try:
        files = []
        with open(LIST) as f:
            for line in f:
                p, n, _ = line.split(" ")
                if p not in STUB:
                    if os.stat(NEXT + "/" + p)[6] != int(n):
                        raise ValueError(p)
                    files.append(p)
        v = m["v"]
    except Exception as e:  # noqa: BLE001  a marker or files that do not check out: not installed
        print("ota: staged update not installed (%r)" % e)
        rm(MARKER)
        rm(NEXT)
        guard.set_ota(state="failed", reason="staged files missing or wrong size")
        return
    print("ota: installing %s (the previous app goes to %s/)" % (v, PREV))
    rm(PREV)
    then = {"state": "trial", "v": v, "fw": v, "prev_fw": m.get("prev_fw"), "boots": 0, "reason": ""}
    _begin({"in": NEXT, "out": PREV, "O": _app_files(), "N": files, "then": then})
    guard.ota = then
    guard.crashes["n"] = 0
    guard._save()


def _rollback(guard, why):
    st = guard.ota
    back = _files(PREV, [])
    if not back:
        print("ota: %s, but there is no previous app to go back to" % why)
        guard.set_ota(state="failed", boots=0, reason=("%s; no previous app" % why)[:200])
        return
    print("ota: rolling back %s: %s" % (st.get("v"), why))
    then = {"state": "rolled_back", "v": st.get("v"), "fw": st.get("prev_fw"), "prev_fw": None,
            "boots": 0, "reason": why[:200]}
    _begin({"in": PREV, "out": NEXT, "O": _app_files(), "N": back, "then": then})
    guard.ota = then
    guard.crashes["n"] = 0
    guard._save()
