# The ingest's side of the OTA wire contract, in MicroPython, for the unit tests: a bundle (version,
# files, file list) and the answer to one ota/req payload, exactly as the contract has them.
import hashlib
import json
from binascii import hexlify
from struct import pack


def sha(b):
    return hexlify(hashlib.sha256(b).digest()).decode()


class Bundle:
    def __init__(self, v, files):
        self.v = v
        self.files = files  # {path: bytes}
        lines = ["%s %d %s\n" % (p, len(files[p]), sha(files[p])) for p in sorted(files)]
        self.manifest = "".join(lines).encode()
        self.sha256 = sha(self.manifest)
        self.size = sum(len(b) for b in files.values())

    def command(self):
        return {"v": self.v, "sha256": self.sha256, "size": self.size}

    def body(self, path):
        return self.manifest if path == "@manifest" else self.files.get(path)

    def answer(self, req):
        # ota/req payload -> ota/data payload
        try:
            r = json.loads(req)
            rid = r["id"]
            v, path, off, n = r["v"], r["file"], r["off"], r.get("n", 1024)
            if not (
                isinstance(rid, int)
                and 0 <= rid <= 65535
                and isinstance(off, int)
                and off >= 0
                and isinstance(n, int)
                and 1 <= n <= 1024
                and isinstance(path, str)
            ):
                raise ValueError
        except Exception:
            rid = r.get("id") if isinstance(r, dict) and isinstance(r.get("id"), int) else 0
            return pack(">BBHII", 1, 4, rid & 0xFFFF, 0, 0)
        if v != self.v:
            return pack(">BBHII", 1, 1, rid, 0, 0)
        data = self.body(path)
        if data is None:
            return pack(">BBHII", 1, 2, rid, 0, 0)
        if off > len(data):
            return pack(">BBHII", 1, 3, rid, 0, len(data))
        return pack(">BBHII", 1, 0, rid, off, len(data)) + data[off : off + min(n, len(data) - off)]
