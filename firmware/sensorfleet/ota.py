# Over-the-air updates, the app's part: pull a bundle over the board's own MQTT connection and stage
# it for the boot stub (safeboot.py), which swaps it in at the next boot, keeps the previous app and
# rolls back a new one that is not healthy in time.
#
# The `ota` command {"v": V, "sha256": BUNDLE_HEX, "size": N} starts it. The board asks for chunks,
# at its own pace, on <prefix>/<id>/ota/req (QoS 0) {"v", "file", "off", "id", "n"} and reads them
# on <prefix>/<id>/ota/data: a header struct ">BBHII" (proto 1, status, id, offset, file size; 12
# bytes as struct packs it), then the bytes. A request without its answer is sent again after
# ota_timeout_s, ota_retries times.
#   1. "@manifest": the file list, a line "<path> <size> <sha256>" per file in path order. Its own
#      SHA-256 is the bundle hash: unless it equals the command's, and every line checks out,
#      nothing is staged ("manifest mismatch"). It is only ever read one line at a time: a list of a
#      hundred files parsed whole would not fit beside the running app.
#   2. each file, appended chunk by chunk to next/<path> (no file is ever whole in RAM), then read
#      back from flash and hashed; a wrong hash fetches it again (FILE_TRIES in all, then failed).
#   3. next.ok, written atomically: the stub swaps at the next boot; the app reboots once what it
#      queued is delivered (the outbox is written to flash on the way out).
# In next/: .want.json (what is being staged: a download resumes from it after a power cut), .files
# (the verified file list, which the stub installs from), .done (how many of its app files are
# verified). A file in progress resumes at its size.
import asyncio
import json
import os
from struct import calcsize, unpack_from
from time import ticks_ms

from safeboot import dirs_for, exists, read_json, rm, write

NEXT = "next"
WANT = NEXT + "/.want.json"
LIST = NEXT + "/.files"
DONE = NEXT + "/.done"
MARKER = "next.ok"
CHUNK = 1024
FORMAT = ">BBHII"
HEAD = calcsize(FORMAT)
PROTO = 1
FILE_TRIES = 3
MAX_LIST = 40960  # 200 files of the longest path
MAX_FILE = 1 << 20
# The boot stub is never updated over the air: a file list may name its files (they count in the
# bundle hash) but they are not fetched. What a bundle may not write at all: the board's own files.
STUB = ("main.py", "safeboot.py", "safeswap.py")
RESERVED = ("config.json", "data", "lib", "next", "prev", "next.ok", "ota.json", "ota.exp", "swap.json",
            "crash.json", "maint")
STATUS = {1: "unknown version", 2: "unknown file", 3: "offset past the end", 4: "bad request"}
STATES = ("idle", "downloading", "staged", "trial", "rolled_back", "failed")
PAST_END = "past the end"  # the answer to a request for an offset past the file's end


class OtaError(Exception):
    pass


class Superseded(Exception):
    pass


def valid_version(v):
    # ^[A-Za-z0-9._+~-]{1,32}$
    if not isinstance(v, str) or not 1 <= len(v) <= 32:
        return False
    for c in v:
        if not ("a" <= c <= "z" or "A" <= c <= "Z" or "0" <= c <= "9" or c in "._+~-"):
            return False
    return True


def valid_path(p):
    # ^[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)*$, at most 96 characters, and not
    # one of RESERVED at the top.
    if not isinstance(p, str) or not 1 <= len(p) <= 96:
        return False
    parts = p.split("/")
    if parts[0] in RESERVED:
        return False
    for part in parts:
        if not part:
            return False
        for i, c in enumerate(part):
            if not ("a" <= c <= "z" or "A" <= c <= "Z" or "0" <= c <= "9" or c == "_" or (i and c in ".-")):
                return False
    return True


def valid_hex(h):
    if not isinstance(h, str) or len(h) != 64:
        return False
    for c in h:
        if not ("0" <= c <= "9" or "a" <= c <= "f"):
            return False
    return True


def file_sha(path):
    # SHA-256 of a file as it is on flash, read in small pieces.
    import hashlib
    from binascii import hexlify

    h = hashlib.sha256()
    buf = bytearray(256)
    mv = memoryview(buf)
    with open(path, "rb") as f:
        while True:
            n = f.readinto(buf)
            if not n:
                break
            h.update(mv[:n])
    return hexlify(h.digest()).decode()


def entry(line):
    # A line of the file list -> (path, size, sha256), or None when it is not one.
    parts = line.split(" ")
    if len(parts) != 3 or not parts[1].isdigit() or len(parts[1]) > 7:
        return None
    p, n, h = parts[0], int(parts[1]), parts[2].rstrip("\n")
    if not valid_path(p) or not valid_hex(h) or n > MAX_FILE or line[-1:] != "\n":
        return None
    return p, n, h


def check_list(path, sha):
    # The file list staged at path: hashed as it is on flash, then read a line at a time.
    # -> (the app's files, their bytes) or OtaError("manifest mismatch: ...").
    got = file_sha(path)
    if got != sha:
        raise OtaError("manifest mismatch: bundle hash %s, the command's %s" % (got[:12], sha[:12]))
    last = ""
    count = total = 0
    with open(path) as f:
        while True:
            line = f.readline()
            if not line:
                break
            e = entry(line)
            if e is None:
                raise OtaError("manifest mismatch: bad line %s" % json.dumps(line[:80]))
            if e[0] <= last:
                raise OtaError("manifest mismatch: files not sorted by path")
            last = e[0]
            if e[0] not in STUB:
                count += 1
                total += e[1]
    if not count:
        raise OtaError("manifest mismatch: no app file")
    return count, total


def _size(p):
    try:
        return os.stat(p)[6]
    except OSError:
        return -1


class Ota:
    # app: the running App (its client, topics, log, queue_status() and ota_reboot are used).
    def __init__(self, app, guard, cfg, fw):
        self.app = app
        self.guard = guard
        self.fw = fw  # the running app's version
        self.timeout = int(cfg["ota_timeout_s"] * 1000)
        self.retries = cfg["ota_retries"]
        g = guard.ota if guard else {}
        self.state = g.get("state") if g.get("state") in STATES else "idle"
        self.v = g.get("v")
        self.reason = g.get("reason") or ""
        self.progress = 0
        self.want = None  # {"v", "sha256"} being staged
        self.go = asyncio.Event()
        self.ev = asyncio.Event()  # the answer awaited came
        self.awaited = None  # (id, path, offset, length, size) of the request out, if any
        self.got = None  # its answer: (chunk, file size), PAST_END or the OtaError it carried
        self.buf = bytearray(CHUNK)  # the chunk answered, copied out of the MQTT client's buffer
        self.rid = (ticks_ms() * 7) & 0xFFFF
        self.requests = 0
        self.ignored = 0  # answers that were not the one awaited (stale, wrong, short, oversized)
        w = read_json(WANT)
        if isinstance(w, dict) and valid_version(w.get("v")) and valid_hex(w.get("sha256")) and w["v"] != fw:
            self._begin(w)  # a download cut short by a reset: it goes on
            self.resumed = True
            app.log("ota: resuming the download of %s" % w["v"])
        else:
            self.resumed = False

    def _begin(self, w):
        self.want = w
        self.state = "downloading"
        self.v = w["v"]
        self.reason = ""
        self.progress = 0
        self.go.set()

    def _changed(self):
        # A state change: a status says so; once staged, the app reboots into it at a safe point.
        a = self.app
        a.queue_status()
        if self.state == "staged" and a.ota_reboot is None:
            a.ota_reboot = ticks_ms()

    def status(self, st):
        st["ota"] = self.state
        if self.v:
            st["ota_v"] = self.v
        if self.state == "downloading":
            st["ota_progress"] = self.progress
        if self.reason and self.state in ("failed", "rolled_back"):
            st["ota_reason"] = self.reason[:200]

    # -- the command --------------------------------------------------------------------------
    def start(self, args):
        v = args.get("v")
        sha = args.get("sha256")
        size = args.get("size")
        if not valid_version(v):
            raise ValueError("ota needs v, a version matching ^[A-Za-z0-9._+~-]{1,32}$")
        if not valid_hex(sha):
            raise ValueError("ota needs sha256, the bundle's SHA-256 in lower-case hex")
        if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
            raise ValueError("ota: size must be an integer >= 0")
        if v == self.fw:
            return {"ota": "trial" if self.state == "trial" else "idle", "fw": v}
        if self.v == v and self.state in ("downloading", "staged", "rolled_back"):
            return {"ota": self.state}  # nothing restarts; a version rolled back is not tried again
        if self.state == "trial":
            raise ValueError("%s is on trial: an update can start once it is kept or rolled back" % self.fw)
        if self.state == "staged":
            raise ValueError("%s is staged: the board is rebooting into it" % self.v)
        self._begin({"v": v, "sha256": sha})
        self._changed()
        return {"ota": self.state}

    def on_data(self, payload):
        # payload is the MQTT client's buffer, good until this returns: the answer awaited is copied
        # out, anything else ignored at once.
        a = self.awaited
        try:
            r = self._answer(payload, *a) if a else False
        except OtaError as e:
            r = e
        if r is False:
            self.ignored += 1
            return
        if r is None:
            r = PAST_END
        elif isinstance(r, tuple):
            k = len(r[0])
            self.buf[:k] = r[0]
            r = (memoryview(self.buf)[:k], r[1])
        self.awaited = None
        self.got = r
        self.ev.set()

    # -- the download -------------------------------------------------------------------------
    async def run(self):
        while True:
            await self.go.wait()
            self.go.clear()
            w = self.want
            if w is None:
                continue
            try:
                await self._stage(w)
                self.state = "staged"
                self.progress = 100
                self.app.log("ota: %s staged; rebooting into it" % w["v"])
                self._changed()
                return "staged"
            except Superseded:
                continue
            except OtaError as e:
                self._fail(w, str(e))
            except Exception as e:  # a full flash, a bug: the update fails, the app goes on
                self._fail(w, "%s: %s" % (type(e).__name__, e))

    def _fail(self, w, why):
        self.app.log("ota: %s failed: %s" % (w["v"], why))
        rm(WANT)
        if why.startswith("manifest mismatch"):
            rm(NEXT)  # nothing staged
        self.want = None
        self.state = "failed"
        self.reason = why[:200]
        if self.guard:
            try:
                self.guard.set_ota(state="failed", v=w["v"], reason=self.reason)
            except OSError:
                pass
        self._changed()

    async def _stage(self, w):
        listed = exists(LIST) and file_sha(LIST) == w["sha256"]
        if not listed:
            # Another update, or none, was staged here: start afresh (and give prev/'s space back).
            rm(NEXT)
            rm("prev")
            os.mkdir(NEXT)
        if read_json(WANT) != w:
            write(WANT, json.dumps(w))
        if not listed:
            await self._fetch(w, "@manifest", LIST, None)
        total = check_list(LIST, w["sha256"])[1] or 1
        try:
            with open(DONE) as f:
                done = int(f.read())
        except (OSError, ValueError):
            done = 0
        i = got = 0
        with open(LIST) as lst:
            while True:
                e = entry(lst.readline())
                if e is None:
                    break
                path, size, sha = e
                if path in STUB:
                    continue
                if i >= done:
                    await self._stage_file(w, path, size, sha, got, total)
                    write(DONE, str(i + 1))
                i += 1
                got += size
        write(MARKER, json.dumps({"v": w["v"], "prev_fw": self.fw}))

    async def _stage_file(self, w, path, size, sha, got, total):
        dst = NEXT + "/" + path
        tries = 0
        while True:
            await self._fetch(w, path, dst, size, got, total)
            if file_sha(dst) == sha:
                return
            tries += 1
            self.app.log("ota: %s: SHA-256 mismatch (try %d of %d)" % (path, tries, FILE_TRIES))
            os.remove(dst)
            if tries >= FILE_TRIES:
                raise OtaError("%s: SHA-256 mismatch %d times" % (path, tries))

    async def _fetch(self, w, path, dst, size, base=0, total=1):
        # Appends to dst from its size on flash until it holds `size` bytes (None: the size the
        # first answer gives, for the manifest).
        dirs_for(dst)
        off = _size(dst)
        if off < 0:
            with open(dst, "wb"):
                pass
            off = 0
        if size is not None and off > size:
            os.remove(dst)
            return await self._fetch(w, path, dst, size, base, total)
        step = 10
        while size is None or off < size:
            r = await self._request(w, path, off, CHUNK if size is None else min(CHUNK, size - off), size)
            if r is None:  # offset past the end: what is staged is longer than the file, start again
                os.remove(dst)
                return await self._fetch(w, path, dst, size, base, total)
            chunk, n = r
            if size is None:
                if n > MAX_LIST:
                    raise OtaError("manifest mismatch: %d bytes" % n)
                size = n
            with open(dst, "ab") as fh:
                fh.write(chunk)
            off += len(chunk)
            chunk = r = None
            p = (base + off) * 100 // total if total > 1 else 0
            if p >= self.progress + step or (p == 100 and self.progress != 100):
                self.progress = min(p, 100)
                self._changed()

    async def _request(self, w, path, off, n, size):
        # -> (chunk, file size) of the answer to this request, or None for "offset past the end".
        for _ in range(self.retries):
            while not self.app.client.connected:
                if self.want is not w:
                    raise Superseded()
                await asyncio.sleep_ms(200)
            if self.want is not w:
                raise Superseded()
            self.rid = (self.rid + 1) & 0xFFFF
            self.ev.clear()
            self.awaited = (self.rid, path, off, n, size)
            self.requests += 1
            try:
                await self.app.client.publish(self.app.topics.ota_req, json.dumps(
                    {"v": w["v"], "file": path, "off": off, "id": self.rid, "n": n}), 0)
                await asyncio.wait_for_ms(self.ev.wait(), self.timeout)
            except asyncio.TimeoutError:
                continue
            except Exception as e:
                self.app.log("ota: request not sent (%s)" % e)
                await asyncio.sleep_ms(200)
                continue
            finally:
                self.awaited = None
            r, self.got = self.got, None
            if isinstance(r, OtaError):
                raise r
            return None if r is PAST_END else r
        raise OtaError("no answer for %s at %d after %d requests" % (path, off, self.retries))

    def _answer(self, p, rid, path, off, n, size):
        # -> (chunk, file size); None: "offset past the end"; False: not the answer awaited (ignored:
        # another request's, stale, short or oversized). Raises OtaError for a refusal.
        if len(p) < HEAD:
            return False
        proto, status, pid, poff, total = unpack_from(FORMAT, p)
        if proto != PROTO or pid != rid:
            return False
        if status:
            if status == 3 and size is not None:
                return None
            raise OtaError("%s for %s at %d" % (STATUS.get(status, "status %d" % status), path, off))
        if poff != off or (size is not None and total != size):
            if size is not None and total != size and poff == off:
                raise OtaError("%s is %d bytes, the manifest says %d" % (path, total, size))
            return False
        if total < off or len(p) - HEAD != min(n, total - off):
            return False
        return memoryview(p)[HEAD:], total
