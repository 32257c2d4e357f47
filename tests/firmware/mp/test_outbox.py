# The flash outbox: records, batched writes, acknowledged position, capacity with counted
# drop-oldest, reboot and torn-write recovery.
import json
import os

from sensorfleet.outbox import KIND_TS, KIND_UP, OVERHEAD, Outbox, scan

from mptest import eq, tmpdir


def vals(i):
    return ('"temperature":%d.5' % i).encode()


def fill(ob, boot, n, start=0, flush=True):
    for i in range(start, start + n):
        ob.append(boot, i, KIND_TS, 1764000000000 + i, vals(i))
    if flush:
        ob.flush()


def drain(ob, max_n=5):
    # Hands out and acknowledges everything; returns the seqs in order.
    seen = []
    while True:
        r = ob.peek(max_n)
        if not r:
            return seen
        seg, recs = r
        b = ob.claim(seg, recs[-1][0], len(recs))
        seen += [x[2] for x in recs]
        ob.acked(b)


def segs(path):
    return sorted(f for f in os.listdir(path) if f.endswith(".seg"))


def test_records_roundtrip_and_flush_is_one_write():
    d = tmpdir("ob1")
    ob = Outbox(d).open()
    fill(ob, 1, 10, flush=False)
    eq(ob.pending, 10)
    eq(ob.peek(5), None)  # not in flash yet: nothing may be published
    eq(ob.flush(), 10)
    eq(ob.writes, 1)
    seg, recs = ob.peek(4)
    eq(len(recs), 4)
    end, boot, seq, kind, t, v = recs[2]
    eq((boot, seq, kind, t, bytes(v)), (1, 2, KIND_TS, 1764000000002, vals(2)))
    eq(end, 3 * (OVERHEAD + len(vals(0))))


def test_ack_advances_only_over_contiguous_prefix_and_persists():
    d = tmpdir("ob2")
    ob = Outbox(d).open()
    fill(ob, 1, 9)
    s, r1 = ob.peek(3)
    b1 = ob.claim(s, r1[-1][0], 3)
    s, r2 = ob.peek(3)
    b2 = ob.claim(s, r2[-1][0], 3)
    eq(r2[0][2], 3)
    ob.acked(b2)  # out of order: the position may not move yet
    eq(ob.ack[1], 0)
    eq(ob.pending, 9)
    ob.acked(b1)
    eq(ob.ack[1], r2[-1][0])
    eq(ob.pending, 3)
    ob.save()
    ob2 = Outbox(d).open()  # a reboot: resumes after the acknowledged ones
    eq(ob2.pending, 3)
    eq([x[2] for x in ob2.peek(10)[1]], [6, 7, 8])


def test_unsaved_acks_mean_resending_not_losing():
    d = tmpdir("ob3")
    ob = Outbox(d).open()
    fill(ob, 1, 6)
    s, r = ob.peek(2)
    ob.acked(ob.claim(s, r[-1][0], 2))
    ob.save()
    s, r = ob.peek(2)
    ob.acked(ob.claim(s, r[-1][0], 2))  # acknowledged, but the power goes before the next save
    ob2 = Outbox(d).open()
    eq([x[2] for x in ob2.peek(10)[1]], [2, 3, 4, 5])


def test_new_segment_each_boot_and_segments_deleted_when_acked():
    d = tmpdir("ob4")
    ob = Outbox(d, seg_bytes=256).open()
    fill(ob, 1, 20)  # 20 x 42 bytes over several 256-byte segments
    assert len(segs(d)) >= 3
    ob.save()
    ob = Outbox(d, seg_bytes=256).open()
    fill(ob, 2, 3)
    seen = drain(ob)
    eq(seen, list(range(20)) + [0, 1, 2])
    eq(ob.pending, 0)
    eq(len(segs(d)), 1)  # only the segment being written remains
    ob.save()
    ob = Outbox(d, seg_bytes=256).open()
    eq(ob.pending, 0)
    eq(ob.peek(5), None)


def test_full_outbox_drops_oldest_and_counts():
    d = tmpdir("ob5")
    ob = Outbox(d, seg_bytes=256, max_segs=3).open()
    per_seg = 256 // (OVERHEAD + len(vals(0)))
    fill(ob, 1, 40)
    assert ob.dropped > 0
    eq(ob.dropped + ob.pending, 40)
    eq(ob.dropped % per_seg, 0)  # whole segments, oldest first
    seen = drain(ob, 7)
    eq(seen, list(range(ob.dropped, 40)))
    ob.save()
    ob2 = Outbox(d, seg_bytes=256, max_segs=3).open()
    eq(ob2.dropped, ob.dropped)  # the count survives a reboot


def test_drop_of_a_segment_in_flight_ignores_its_late_ack():
    d = tmpdir("ob6")
    ob = Outbox(d, seg_bytes=256, max_segs=2).open()
    fill(ob, 1, 5)
    s, r = ob.peek(3)
    b = ob.claim(s, r[-1][0], 3)
    fill(ob, 1, 30, start=5)  # the segment of the batch in flight is dropped
    dropped = ob.dropped
    pend = ob.pending
    ob.acked(b)  # the PUBACK comes late
    eq((ob.dropped, ob.pending), (dropped, pend))
    eq(drain(ob)[-1], 34)


def test_torn_write_keeps_earlier_records():
    d = tmpdir("ob7")
    ob = Outbox(d).open()
    fill(ob, 1, 5)
    name = d + "/" + segs(d)[-1]
    with open(name, "ab") as f:
        f.write(b"\xa5\x00\x20\x00\x01\x00\x00\x00\x05")  # a record cut short by a power cut
    with open(name, "rb") as f:
        data = f.read()
    eq(scan(data)[0], 5)
    ob2 = Outbox(d, log=lambda m: None).open()
    eq(ob2.pending, 5)
    fill(ob2, 2, 2)
    eq(drain(ob2), [0, 1, 2, 3, 4, 0, 1])


def test_corrupted_record_stops_that_segment_only():
    d = tmpdir("ob8")
    ob = Outbox(d, seg_bytes=256).open()
    fill(ob, 1, 12)  # two segments (6 records each)
    first = d + "/" + segs(d)[0]
    with open(first, "rb") as f:
        data = bytearray(f.read())
    data[OVERHEAD * 3 + 3 * len(vals(0)) - 10] ^= 0xFF  # flip a bit inside the 3rd record
    with open(first, "wb") as f:
        f.write(data)
    ob2 = Outbox(d, seg_bytes=256, log=lambda m: None).open()
    seen = drain(ob2)
    eq(seen[:2], [0, 1])
    assert 2 not in seen and seen[-1] == 11


def test_uptime_records():
    d = tmpdir("ob9")
    ob = Outbox(d).open()
    ob.append(3, 0, KIND_UP, 12345, b'"x":1')
    ob.flush()
    eq(ob.peek(1)[1][0][3:5], (KIND_UP, 12345))


def test_ack_state_file_is_json_and_replaced_atomically():
    d = tmpdir("ob10")
    ob = Outbox(d).open()
    fill(ob, 1, 3)
    s, r = ob.peek(3)
    ob.acked(ob.claim(s, r[-1][0], 3))
    ob.save()
    with open(d + "/ack.json") as f:
        st = json.load(f)
    eq(st["dropped"], 0)
    assert "ack.tmp" not in os.listdir(d)
