# Updates, the app's part (sensorfleet/ota.py) against a fake link that answers as the ingest does
# (otafeed.py, the contract): staging in chunks, verification, refetch, resume, bad answers. The
# boot stub's part is test_safeswap.py.
import asyncio
import json
import os

from sensorfleet import ota as O

from flashdir import enter, leave, read
from mptest import eq, raises
from otafeed import Bundle, sha

CFG = {"ota_timeout_s": 0.05, "ota_retries": 3}


class Link:
    # The app as Ota sees it (and its MQTT client, and topics): each ota/req is answered as the
    # ingest answers it; `tamper(req, answer) -> [answers]` changes what is sent back.
    def __init__(self, bundle, tamper=None):
        self.b = bundle
        self.tamper = tamper
        self.reqs = []
        self.changes = 0
        self.logs = []
        self.ota = None
        self.client = self.topics = self
        self.connected = True
        self.ota_req = "sf/d/ota/req"
        self.ota_reboot = None

    async def publish(self, topic, payload, qos=0):
        assert topic == "sf/d/ota/req" and qos == 0
        r = json.loads(payload)
        self.reqs.append(r)
        assert r.get("n", 1024) <= 1024
        a = self.b.answer(payload)
        out = self.tamper(r, a) if self.tamper else [a]
        for x in out:
            await asyncio.sleep_ms(0)
            self.ota.on_data(x)

    def queue_status(self):
        self.changes += 1

    def log(self, m):
        self.logs.append(m)


class Guard:
    def __init__(self):
        self.ota = {}

    def set_ota(self, **kw):
        self.ota.update(kw)


def files(n=3, big=2100):
    out = {"sensorfleet/__init__.py": b'FW = "9.9"\n'}
    for i in range(n):
        out["sensorfleet/m%d.py" % i] = bytes((i * 7 + j) % 251 for j in range(big + i))
    out["empty.py"] = b""
    return out


def test_the_file_list_is_read_line_by_line_and_hashes_to_the_bundle():
    enter("ota0")
    h = sha(b"abc")
    lines = ("a.py 3 %s\nb/c.py 0 %s\n" % (h, sha(b""))).encode()
    eq(Bundle("2.0", {"a.py": b"abc", "b/c.py": b""}).manifest, lines)
    eq(O.entry("a.py 3 %s\n" % h), ("a.py", 3, h))
    for bad in ("a.py 3 %s" % h, "a.py -3 %s\n" % h, "a.py 3 %s\n" % h.upper(), "a.py  3 %s\n" % h,
                "../a.py 3 %s\n" % h, "a.py 3 %s x\n" % h, "a.py 99999999 %s\n" % h, "", "\n"):
        eq(O.entry(bad), None, bad)
    for body, why in (
        (lines, None),
        (("main.py 3 %s\n" % h).encode(), "no app file"),
        (("b.py 3 %s\na.py 3 %s\n" % (h, h)).encode(), "files not sorted by path"),
        (("a.py 3 %s\nb.py\n" % h).encode(), "bad line"),
    ):
        with open("list", "wb") as f:
            f.write(body)
        if why is None:
            eq(O.check_list("list", sha(body)), (2, 3))
        else:
            assert why in str(raises(O.OtaError, O.check_list, "list", sha(body)))
        assert "bundle hash" in str(raises(O.OtaError, O.check_list, "list", sha(b"other")))
    leave()


def test_paths_and_versions_are_held_to_the_contract():
    for p in ("sensorfleet/app.py", "a", "_x/y-1.mpy", "a" * 96):
        assert O.valid_path(p), p
    for p in (
        "",
        "/a",
        "a//b",
        "../a",
        "a/../b",
        ".x",
        "a/.b",
        "a" * 97,
        "config.json",
        "data/x.py",
        "next/a.py",
        "prev/a.py",
        "a b",
        "a\n",
        5,
    ):
        assert not O.valid_path(p), p
    assert (
        O.valid_version("1.2.3+rc~1_x-y") and not O.valid_version("1.2\n") and not O.valid_version("a" * 33)
    )


async def test_stages_every_file_in_chunks_verified_and_writes_the_marker():
    enter("ota1")
    b = Bundle("2.0", files())
    link = Link(b)
    o = O.Ota(link, Guard(), CFG, "1.0")
    link.ota = o
    eq(o.start(b.command()), {"ota": "downloading"})
    eq(o.start(b.command()), {"ota": "downloading"})  # the same version again: nothing restarts
    eq(o.start({"v": "1.0", "sha256": b.sha256}), {"ota": "idle", "fw": "1.0"})
    eq(await asyncio.wait_for_ms(o.run(), 5000), "staged")
    eq(o.state, "staged")
    for p, data in b.files.items():
        eq(O.file_sha("next/" + p), sha(data), p)
    eq(json.loads(read("next.ok")), {"v": "2.0", "prev_fw": "1.0"})
    eq(read("next/.files"), b.manifest)
    assert all(r["n"] <= 1024 for r in link.reqs)
    eq(link.reqs[0]["file"], "@manifest")
    # each file from offset 0 in steps of at most 1 KiB, in path order, with fresh ids
    offs = [(r["file"], r["off"]) for r in link.reqs if r["file"] == "sensorfleet/m1.py"]
    eq(offs, [("sensorfleet/m1.py", 0), ("sensorfleet/m1.py", 1024), ("sensorfleet/m1.py", 2048)])
    ids = [r["id"] for r in link.reqs]
    eq(len(set(ids)), len(ids))
    st = {}
    o.status(st)
    eq(st["ota"], "staged")
    eq(st["ota_v"], "2.0")
    leave()


async def test_a_manifest_that_does_not_match_the_command_stages_nothing():
    enter("ota2")
    b = Bundle("2.0", files(1))
    g = Guard()
    o = O.Ota(Link(b), g, CFG, "1.0")
    o.app.ota = o
    cmd = b.command()
    cmd["sha256"] = sha(b"something else")
    o.start(cmd)
    await _until_failed(o)
    eq(o.state, "failed")
    assert o.reason.startswith("manifest mismatch"), o.reason
    assert "next" not in os.listdir() and "next.ok" not in os.listdir(), os.listdir()
    eq(g.ota["state"], "failed")
    # a list that hashes to the command's but lies about a file: that file fails its SHA-256 check
    b2 = Bundle("2.0", files(1))
    b2.manifest = b2.manifest.replace(b"__init__.py 11", b"__init__.py 12")
    cmd = b2.command()
    cmd["sha256"] = sha(b2.manifest)
    o = O.Ota(Link(b2), g, CFG, "1.0")
    o.app.ota = o
    o.start(cmd)
    await _until_failed(o)
    eq(o.reason, "sensorfleet/__init__.py is 11 bytes, the manifest says 12")
    assert "next.ok" not in os.listdir()
    leave()


async def _until_failed(o):
    t = asyncio.create_task(o.run())
    for _ in range(500):
        if o.state == "failed":
            break
        await asyncio.sleep_ms(10)
    t.cancel()


async def test_a_file_with_a_wrong_hash_is_fetched_again_then_the_update_fails():
    enter("ota3")
    b = Bundle("2.0", files(1))
    bad = {"n": 0}

    def corrupt_once(r, a):
        if r["file"] == "sensorfleet/m0.py" and r["off"] == 1024 and bad["n"] < 1:
            bad["n"] += 1
            a = bytearray(a)
            a[20] ^= 0xFF
            return [bytes(a)]
        return [a]

    link = Link(b, corrupt_once)
    o = O.Ota(link, Guard(), CFG, "1.0")
    link.ota = o
    o.start(b.command())
    eq(await asyncio.wait_for_ms(o.run(), 5000), "staged")
    eq(O.file_sha("next/sensorfleet/m0.py"), sha(b.files["sensorfleet/m0.py"]))
    eq(len([r for r in link.reqs if r["file"] == "sensorfleet/m0.py" and r["off"] == 0]), 2)
    assert any("SHA-256 mismatch (try 1 of 3)" in m for m in link.logs), link.logs
    leave()

    enter("ota3b")

    def corrupt_always(r, a):
        if r["file"] == "sensorfleet/m0.py" and len(a) > 11:
            a = bytearray(a)
            a[-1] ^= 1
            return [bytes(a)]
        return [a]

    link = Link(b, corrupt_always)
    o = O.Ota(link, Guard(), CFG, "1.0")
    link.ota = o
    o.start(b.command())
    await _until_failed(o)
    eq(o.reason, "sensorfleet/m0.py: SHA-256 mismatch 3 times")
    assert "next.ok" not in os.listdir()
    leave()


async def test_wrong_answers_are_ignored_and_the_right_one_taken():
    enter("ota4")
    b = Bundle("2.0", files(1))
    from struct import pack

    def noise(r, a):
        if r["file"] != "sensorfleet/m0.py":
            return [a]
        body = a[O.HEAD :]
        size = len(b.files[r["file"]])

        def h(proto=1, st=0, i=r["id"], off=r["off"]):
            return pack(">BBHII", proto, st, i, off, size)

        return [
            b"\x01\x00",  # shorter than a header
            h(proto=2) + body,  # another protocol
            h(i=(r["id"] + 1) & 0xFFFF) + body,  # another request's
            h(off=r["off"] + 1) + body,  # another offset
            h() + body[:-1],  # truncated
            h() + body + b"x",  # oversized
            h(i=(r["id"] + 5) & 0xFFFF, st=2),  # a refusal, but for another id
            a,
        ]

    link = Link(b, noise)
    o = O.Ota(link, Guard(), CFG, "1.0")
    link.ota = o
    o.start(b.command())
    eq(await asyncio.wait_for_ms(o.run(), 5000), "staged")
    eq(O.file_sha("next/sensorfleet/m0.py"), sha(b.files["sensorfleet/m0.py"]))
    eq(o.ignored, 7 * 3)  # three chunks, seven wrong answers each
    leave()


async def test_refusals_and_silence_fail_with_a_reason():
    b = Bundle("2.0", files(1))
    for name, tamper, why in (
        (
            "ota5a",
            lambda r, a: [a] if r["file"] == "@manifest" else [b"\x01\x02" + a[2:4] + bytes(8)],
            "unknown file for sensorfleet/__init__.py at 0",
        ),
        ("ota5b", lambda r, a: [b"\x01\x01" + a[2:4] + bytes(8)], "unknown version for @manifest at 0"),
        ("ota5c", lambda r, a: [b"\x01\x04" + a[2:4] + bytes(8)], "bad request for @manifest at 0"),
        (
            "ota5d",
            lambda r, a: [] if r["file"] != "@manifest" else [a],
            "no answer for sensorfleet/__init__.py at 0 after 3 requests",
        ),
    ):
        enter(name)
        link = Link(b, tamper)
        o = O.Ota(link, Guard(), CFG, "1.0")
        link.ota = o
        o.start(b.command())
        await _until_failed(o)
        eq(o.state, "failed", name)
        eq(o.reason, why)
        st = {}
        o.status(st)
        eq(st["ota_reason"], why)
        leave()


async def test_a_download_cut_short_resumes_from_what_is_staged():
    enter("ota6")
    b = Bundle("2.0", files(2))
    cut = {"left": 4}

    def power_cut(r, a):
        cut["left"] -= 1
        return [a] if cut["left"] >= 0 else []  # the power goes while this request is out

    link = Link(b, power_cut)
    o = O.Ota(link, Guard(), CFG, "1.0")
    link.ota = o
    o.start(b.command())
    t = asyncio.create_task(o.run())
    while cut["left"] >= 0:
        await asyncio.sleep_ms(1)
    t.cancel()  # nothing of this boot runs any more
    await asyncio.sleep_ms(0)
    staged = os.stat("next/sensorfleet/m0.py")[6]
    eq(staged, 2048)  # manifest, __init__, two chunks of m0
    # the next boot: the app finds next/.want.json and goes on (no command needed)
    link = Link(b)
    o = O.Ota(link, Guard(), CFG, "1.0")
    link.ota = o
    assert o.resumed and o.state == "downloading"
    eq(await asyncio.wait_for_ms(o.run(), 5000), "staged")
    eq(
        [(r["file"], r["off"]) for r in link.reqs][:2],
        [("sensorfleet/m0.py", 2048), ("sensorfleet/m1.py", 0)],
    )
    for p, data in b.files.items():
        eq(O.file_sha("next/" + p), sha(data), p)
    # the same version again after staging: nothing restarts
    eq(o.start(b.command()), {"ota": "staged"})
    leave()


async def test_a_staged_file_longer_than_the_ingests_is_fetched_again():
    enter("ota7")
    b = Bundle("2.0", files(1))
    link = Link(b)
    o = O.Ota(link, Guard(), CFG, "1.0")
    link.ota = o
    o.start(b.command())
    os.mkdir("next")
    with open("next/.want.json", "w") as f:
        f.write(json.dumps(o.want))
    with open("next/.files", "wb") as f:
        f.write(b.manifest)
    os.mkdir("next/sensorfleet")
    with open("next/sensorfleet/m0.py", "wb") as f:
        for _ in range(10):
            f.write(b"\x00" * 500)  # longer than the file: started again from 0
    eq(await asyncio.wait_for_ms(o.run(), 5000), "staged")
    eq(O.file_sha("next/sensorfleet/m0.py"), sha(b.files["sensorfleet/m0.py"]))
    leave()


def test_a_new_version_supersedes_a_download_and_trial_or_staged_refuse():
    enter("ota8")
    b = Bundle("2.0", files(1))
    g = Guard()
    g.ota = {"state": "trial", "v": "1.5", "fw": "1.5"}
    o = O.Ota(Link(b), g, CFG, "1.5")
    e = raises(ValueError, o.start, b.command())
    assert "on trial" in str(e), e
    eq(o.start({"v": "1.5", "sha256": b.sha256}), {"ota": "trial", "fw": "1.5"})
    g.ota = {"state": "rolled_back", "v": "2.0", "fw": "1.0", "reason": "crashed"}
    o = O.Ota(Link(b), g, CFG, "1.0")
    eq(o.start(b.command()), {"ota": "rolled_back"})  # a version rolled back is not tried again
    eq(o.start(Bundle("2.1", files(1)).command()), {"ota": "downloading"})
    raises(ValueError, o.start, {"v": "x y", "sha256": b.sha256})
    raises(ValueError, o.start, {"v": "3", "sha256": "ABC"})
    leave()
