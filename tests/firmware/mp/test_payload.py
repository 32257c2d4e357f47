# Telemetry JSON: reading values, batches (<= 1 KiB, one boot, consecutive seqs), ts / age / neither.
import json

from sensorfleet import payload as PL
from sensorfleet.outbox import KIND_TS, KIND_UP

from mptest import eq


def rec(seq, boot=5, kind=KIND_TS, t=1764000000000, v=b'"temperature":21.5'):
    return (100 + seq, boot, seq, kind, t + seq, memoryview(v))


def test_values_encoding():
    v = PL.values(
        {"temperature": 21.5, "ok": True, "n": 3, "bad": float("nan"), "inf": float("inf"), "s": "x"}
    )
    d = json.loads(b"{" + v + b"}")
    eq(d, {"temperature": 21.5, "ok": True, "n": 3})
    eq(PL.values({}), b"")


def test_batch_with_ts():
    data, n, end = PL.batch([rec(7), rec(8), rec(9)], 5, 0, None)
    eq((n, end), (3, 109))
    d = json.loads(data)
    eq(d["boot"], 5)
    eq(d["seq"], 7)
    eq(d["readings"][1], {"ts": 1764000000008, "temperature": 21.5})


def test_age_before_sync_and_ts_after_sync_for_this_boot():
    r = [rec(0, kind=KIND_UP, t=1000), rec(1, kind=KIND_UP, t=2000)]
    d = json.loads(PL.batch(r, 5, 4000, None)[0])
    eq([x["age"] for x in d["readings"]], [3000, 1999])  # rec() adds seq to t
    d = json.loads(PL.batch(r, 5, 4000, 1764000000000)[0])  # synced meanwhile: uptime -> epoch
    eq([x["ts"] for x in d["readings"]], [1764000001000, 1764000002001])
    d = json.loads(PL.batch(r, 6, 4000, 1764000000000)[0])  # from an earlier boot: no usable time
    eq(d["readings"][0], {"temperature": 21.5})
    r = [rec(0, kind=KIND_UP, t=0, v=b"")]
    eq(json.loads(PL.batch(r, 6, 0, None)[0])["readings"], [{}])


def test_batch_stops_at_boot_change_gap_and_max_n():
    r = [rec(1), rec(2), rec(0, boot=6)]
    eq(PL.batch(r, 6, 0, None)[1], 2)
    r = [rec(1), rec(2), rec(4)]
    eq(PL.batch(r, 5, 0, None)[1], 2)
    r = [rec(i) for i in range(10)]
    eq(PL.batch(r, 5, 0, None, max_n=4)[1], 4)


def test_batch_never_exceeds_1_kib():
    big = b'"temperature":21.123456,"humidity":45.123456,"pressure":1013.123456,"co2":612'
    r = [rec(i, v=big) for i in range(40)]
    total = 0
    while r:
        data, n, end = PL.batch(r, 5, 0, None, max_n=200)
        assert len(data) <= 1024, len(data)
        assert n >= 1
        d = json.loads(data)
        eq(len(d["readings"]), n)
        total += n
        r = r[n:]
    eq(total, 40)
