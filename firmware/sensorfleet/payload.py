# The telemetry JSON: a reading's values are kept in the outbox as a JSON object body
# (`"temperature":21.5,"humidity":40.1`); a batch is assembled from them at send time:
#   {"boot":17,"seq":1042,"readings":[{"ts":1764000000123,"temperature":21.5},...]}
# `ts` (epoch ms) once the clock is synced, `age` (ms before sending) for earlier readings of this
# boot, neither for unsynced readings of an earlier boot (the server then uses its receive time).
from .outbox import KIND_TS

MAX_BYTES = 1024
INF = float("inf")


def values(d):
    # dict of metric -> number/bool -> bytes; NaN, infinities and other types are left out.
    parts = []
    for k, v in d.items():
        if isinstance(v, bool):
            s = "true" if v else "false"
        elif isinstance(v, int):
            s = str(v)
        elif isinstance(v, float):
            if v != v or v == INF or v == -INF:
                continue
            s = repr(v)
        else:
            continue
        parts.append('"%s":%s' % (k, s))
    return ",".join(parts).encode()


_OUT = bytearray(MAX_BYTES + 64)  # built here, allocated once; each batch is copied out once


def batch(recs, boot, uptime_ms, base_ms, max_n=20, max_bytes=MAX_BYTES):
    # recs: (end, boot, seq, kind, t, values) from Outbox.peek(). Takes the longest prefix that has
    # one boot, consecutive seqs, at most max_n readings and at most max_bytes of JSON.
    # -> (payload bytes, count taken, end offset of the last one taken)
    first = recs[0]
    b0, s0 = first[1], first[2]
    out = _OUT
    head = ('{"boot":%d,"seq":%d,"readings":[' % (b0, s0)).encode()
    pos = len(head)
    out[:pos] = head
    n = 0
    end = 0
    for r in recs:
        if n >= max_n or r[1] != b0 or r[2] != s0 + n:
            break
        kind, t, vals = r[3], r[4], r[5]
        if kind == KIND_TS:
            h = '{"ts":%d,' % t
        elif r[1] == boot and base_ms is not None:
            h = '{"ts":%d,' % (base_ms + t)
        elif r[1] == boot:
            h = '{"age":%d,' % max(0, uptime_ms - t)
        else:
            h = "{"
        lv = len(vals)
        if not lv and h != "{":
            h = h[:-1]
        size = pos + (1 if n else 0) + len(h) + lv + 3
        if size > max_bytes and (n or size > len(out)):
            break
        if n:
            out[pos] = 44  # ,
            pos += 1
        hb = h.encode()
        out[pos : pos + len(hb)] = hb
        pos += len(hb)
        out[pos : pos + lv] = vals
        pos += lv
        out[pos] = 125  # }
        pos += 1
        n += 1
        end = r[0]
    out[pos] = 93  # ]
    out[pos + 1] = 125
    return bytes(memoryview(out)[: pos + 2]), n, end


def status(d):
    import json

    return json.dumps(d).encode()
