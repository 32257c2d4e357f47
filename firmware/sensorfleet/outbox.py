# The store-and-forward outbox: readings live in append-only segment files in flash until the
# broker has acknowledged them.
#
#   <dir>/00000012.seg   records, appended in batched writes; a new segment every boot and every
#                        `seg_bytes`; a segment is deleted when all its records are acknowledged,
#                        or when the outbox is full (drop-oldest, counted in `dropped`)
#   <dir>/ack.json       {"seg":12,"off":840,"dropped":0}: the acknowledged position, saved
#                        atomically (write ack.tmp, rename); a stale one only means re-sending
#
# A record (little-endian): magic 0xA5 | kind u8 | len u16 | boot u32 | seq u32 | t i64 |
# values (len bytes: a JSON object body, e.g. `"temperature":21.5`) | crc32 of all before it, u32.
# kind 0: t = epoch ms; kind 1: t = uptime ms of that boot (clock not synced when sampled).
# A segment is read up to its first bad record (a torn write at a power cut): what came before is kept.
#
# Flash space: the capacity is cut to what the filesystem has free when the outbox opens, and a full
# filesystem at a write (ENOSPC) drops the oldest segment and shrinks the capacity, both counted in
# `shrunk`; the readings lost are counted in `dropped`. Neither is ever an exception.
import os
from struct import pack_into, unpack_from
from binascii import crc32

MAGIC = 0xA5
HDR = "<BBHIIq"
HDR_LEN = 20
OVERHEAD = 24
KIND_TS = 0
KIND_UP = 1
CHUNK = 1280  # bytes read from flash per batch (a batch is <= 1 KiB of JSON)
ENOSPC = 28
RESERVE = 16384  # flash left free beside the outbox (boot counter, commands, config, littlefs' own)
BUF = 2048  # the RAM write buffer: allocated once, written out when a record would not fit


def _exists(p):
    try:
        os.stat(p)
        return True
    except OSError:
        return False


def scan(data, start=0, stop=None):
    # Walks whole, valid records in data[start:stop] -> (count, end offset of the last good one).
    if stop is None:
        stop = len(data)
    n = 0
    i = start
    while i + OVERHEAD <= stop:
        if data[i] != MAGIC:
            break
        ln = data[i + 2] | data[i + 3] << 8
        e = i + OVERHEAD + ln
        if e > stop:
            break
        if crc32(memoryview(data)[i : e - 4]) != unpack_from("<I", data, e - 4)[0]:
            break
        n += 1
        i = e
    return n, i


class Outbox:
    def __init__(self, path, seg_bytes=4096, max_segs=32, log=print):
        self.dir = path
        self.seg_bytes = seg_bytes
        self.max_segs = max(2, max_segs)
        self.log = log
        # The segments, oldest first, as three parallel lists of small ints (compact on a small heap):
        # number, records, valid bytes. The last one is the segment being written.
        self.sno = []
        self.scnt = []
        self.ssz = []
        self.ack = (0, 0)  # (segment, offset): everything before it is acknowledged
        self.ack_n = 0  # records before ack offset in the ack segment
        self.send = (0, 0)  # next record to hand out for publishing
        self.batches = []  # handed out, not yet all acknowledged: [seg, end, count, acked]
        # Fixed buffers, allocated once: a growing one would fragment a small heap.
        self.buf = bytearray(BUF)  # records not yet written to flash: buf[:blen]
        self.blen = 0
        self.buf_n = 0
        self.rbuf = bytearray(CHUNK)
        self.pending = 0  # readings in the outbox (flash + buffer) not yet acknowledged
        self.dropped = 0
        self.dirty = False
        self.writes = 0
        self.shrunk = 0

    def _p(self, no):
        return "%s/%08d.seg" % (self.dir, no)

    # -- boot ---------------------------------------------------------------------------------
    def open(self):
        _mkdirs(self.dir)
        nums = []
        for name in os.listdir(self.dir):
            if name.endswith(".seg"):
                try:
                    nums.append(int(name[:-4]))
                except ValueError:
                    pass
        nums.sort()
        aseg, aoff = 0, 0
        try:
            import json

            with open(self.dir + "/ack.json") as f:
                st = json.load(f)
            aseg, aoff, self.dropped = int(st["seg"]), int(st["off"]), int(st.get("dropped", 0))
        except (OSError, ValueError, KeyError, TypeError):
            pass
        for no in nums:
            if no < aseg:
                os.remove(self._p(no))  # acknowledged before the last save
        nums = [no for no in nums if no >= aseg]
        if not nums or nums[0] != aseg:
            aoff = 0
        self.sno, self.scnt, self.ssz = [], [], []
        self.ack_n = 0
        torn = 0
        for no in nums:
            n, size, flen = self._scan(no)
            torn += flen - size
            if no == aseg and aoff:
                self.ack_n, aoff = self._scan(no, min(aoff, size))[:2]
            self.sno.append(no)
            self.scnt.append(n)
            self.ssz.append(size)
        # never append to a segment of an earlier boot: a torn tail stays where it is
        self.sno.append((nums[-1] if nums else aseg) + 1)
        self.scnt.append(0)
        self.ssz.append(0)
        if not (nums and nums[0] == aseg):
            self.ack_n = 0
            aoff = 0
        self.ack = (self.sno[0], aoff)
        self.send = self.ack
        self.pending = sum(self.scnt) - self.ack_n
        if torn:
            self.log("outbox: ignored %d bytes of a torn write" % torn)
        self._trim()
        self._fit(sum(self.ssz))
        return self

    def _fit(self, used):
        # The capacity the flash can really hold, beside what the outbox already uses.
        try:
            st = os.statvfs(self.dir)
        except (OSError, AttributeError):
            return
        # f_bsize * f_bavail; littlefs estimates its used blocks, and a full one can count more
        # blocks than it has: f_bavail then wraps around (unsigned).
        free = st[0] * st[4] if st[4] <= st[2] else 0
        fits = max(2, (used + free - RESERVE) // self.seg_bytes)
        if fits < self.max_segs:
            self.log("outbox: %d KiB do not fit the free flash, using %d KiB"
                     % (self.max_segs * self.seg_bytes // 1024, fits * self.seg_bytes // 1024))
            self.max_segs = fits
            self.shrunk += 1
            while len(self.sno) > self.max_segs:
                self._drop_oldest()

    def _scan(self, no, stop=None):
        # Valid records of a segment file, read in CHUNK pieces -> (count, valid bytes, file bytes).
        n = 0
        pos = 0
        mv = memoryview(self.rbuf)
        with open(self._p(no), "rb") as f:
            flen = f.seek(0, 2)
            if stop is None:
                stop = flen
            while pos < stop:
                f.seek(pos)
                got = f.readinto(mv[: min(CHUNK, stop - pos)])
                k, end = scan(self.rbuf, 0, got)
                if not k:
                    break
                n += k
                pos += end
        return n, pos, flen

    # -- writing ------------------------------------------------------------------------------
    def append(self, boot, seq, kind, t, values):
        # Returns how many records had to be written to flash first (0 normally).
        lv = len(values)
        n = OVERHEAD + lv
        if n > BUF:
            raise ValueError("record too large")
        wsz = self.ssz[-1]
        done = 0
        if wsz + self.blen + n > self.seg_bytes and wsz + self.blen > 0:
            done = self.flush()
            self._rotate()
        elif self.blen + n > BUF:
            done = self.flush()
        b = self.buf
        i = self.blen
        pack_into(HDR, b, i, MAGIC, kind, lv, boot, seq, t)
        b[i + HDR_LEN : i + HDR_LEN + lv] = values
        mv = memoryview(b)
        pack_into("<I", b, i + HDR_LEN + lv, crc32(mv[i : i + HDR_LEN + lv]))
        self.blen = i + n
        self.buf_n += 1
        self.pending += 1
        return done

    def flush(self):
        # One flash write for every record appended since the last flush.
        if not self.blen:
            return 0
        while True:
            try:
                self._write()
                break
            except OSError as e:
                if e.errno != ENOSPC:
                    raise
                if not self._full():
                    self.log("outbox: flash full, %d readings in RAM lost" % self.buf_n)
                    self.dropped += self.buf_n
                    self.pending -= self.buf_n
                    self.blen = self.buf_n = 0
                    return 0
        n = self.buf_n
        self.scnt[-1] += n
        self.ssz[-1] += self.blen
        self.blen = 0
        self.buf_n = 0
        self.writes += 1
        return n

    def _write(self):
        # littlefs commits a file's new data when it is closed (copy on write): a write that fails
        # leaves the segment as it was.
        with open(self._p(self.sno[-1]), "ab") as f:
            f.write(memoryview(self.buf)[: self.blen])

    def _full(self):
        # The filesystem is full: give up the oldest segment and keep the capacity below what was
        # there. False when only the segment being written is left.
        self.shrunk += 1
        if len(self.sno) < 2:
            return False
        self.max_segs = max(2, len(self.sno) - 1)
        self._drop_oldest()
        return True

    def _rotate(self):
        self.sno.append(self.sno[-1] + 1)
        self.scnt.append(0)
        self.ssz.append(0)
        self._trim()
        while len(self.sno) > self.max_segs:
            self._drop_oldest()

    def _pop(self):
        self.scnt.pop(0)
        self.ssz.pop(0)
        return self.sno.pop(0)

    def _drop_oldest(self):
        cnt = self.scnt[0]
        no = self._pop()
        lost = cnt - (self.ack_n if no == self.ack[0] else 0)
        self.dropped += lost
        self.pending -= lost
        self.ack = (self.sno[0], 0)
        self.ack_n = 0
        if self.send < self.ack:
            self.send = self.ack
        self.batches = [b for b in self.batches if b[0] > no]
        self.save()
        _rm(self._p(no))
        self.log("outbox: full, dropped %d oldest readings" % lost)

    def _trim(self):
        # Deletes closed segments that are wholly acknowledged.
        gone = False
        while len(self.sno) > 1:
            no = self.sno[0]
            if no < self.ack[0] or (no == self.ack[0] and self.ack[1] >= self.ssz[0]):
                self._pop()
                if no == self.ack[0]:
                    self.ack = (self.sno[0], 0)
                    self.ack_n = 0
                if self.send < self.ack:
                    self.send = self.ack
                _rm(self._p(no))
                gone = True
            else:
                break
        if gone:
            self.dirty = True

    # -- reading ------------------------------------------------------------------------------
    def peek(self, max_n):
        # Up to max_n flushed records from the send cursor, all from one segment:
        # (seg, [(end, boot, seq, kind, t, values), ...]) or None. Commit a prefix with claim().
        last = len(self.sno) - 1
        while True:
            seg, off = self.send
            k = 0
            while k <= last and self.sno[k] < seg:
                k += 1
            if k > last:
                return None
            if self.sno[k] != seg:
                seg, off = self.sno[k], 0
                self.send = (seg, 0)
            size = self.ssz[k]
            if off < size:
                break
            if k == last:
                return None
            self.send = (seg + 1, 0)
        want = min(CHUNK, size - off)
        data = self.rbuf  # the records returned point into it: valid until the next peek()
        mv = memoryview(data)
        with open(self._p(seg), "rb") as f:
            f.seek(off)
            got = f.readinto(mv[:want])
        out = []
        i = 0
        while len(out) < max_n and i + OVERHEAD <= got:
            magic, kind, ln, boot, seq, t = unpack_from(HDR, data, i)
            e = i + OVERHEAD + ln
            if magic != MAGIC or e > got:
                break
            out.append((off + e, boot, seq, kind, t, mv[i + HDR_LEN : e - 4]))
            i = e
        if not out:
            # A record longer than CHUNK cannot be published: skip the rest of this segment.
            self.log("outbox: unreadable record at %d/%d, skipping segment" % (seg, off))
            self.send = (seg, size)
            return self.peek(max_n)
        return seg, out

    def claim(self, seg, end, count):
        # The records up to `end` of `seg` are handed out as one batch; returns its token.
        b = [seg, end, count, False]
        self.batches.append(b)
        self.send = (seg, end)
        return b

    def acked(self, b):
        # The batch `b` is acknowledged. The acknowledged position moves over the contiguous prefix.
        b[3] = True
        bs = self.batches
        while bs and bs[0][3]:
            seg, end, count, _ = bs.pop(0)
            if seg < self.ack[0]:
                continue  # its segment was dropped while it was in flight
            if seg != self.ack[0]:
                self.ack_n = 0
            self.ack = (seg, end)
            self.ack_n += count
            self.pending -= count
            self.dirty = True
        self._trim()

    def save(self):
        # A stale position only means re-sending; a full flash must not stop the outbox.
        import json

        tmp = self.dir + "/ack.tmp"
        try:
            with open(tmp, "w") as f:
                f.write(json.dumps({"seg": self.ack[0], "off": self.ack[1], "dropped": self.dropped}))
            os.rename(tmp, self.dir + "/ack.json")
        except OSError as e:
            if e.errno != ENOSPC:
                raise
            self.log("outbox: flash full, acknowledged position not saved")
            return
        self.dirty = False


def _rm(p):
    try:
        os.remove(p)
    except OSError:
        pass


def _mkdirs(path):
    cur = ""
    for part in path.split("/"):
        if not part:
            cur = "/"
            continue
        cur = cur + part if cur.endswith("/") or not cur else cur + "/" + part
        if not _exists(cur):
            os.mkdir(cur)
