# The asyncio MQTT client against a scripted fake transport: the exact bytes it writes, and how it
# reacts to what the "broker" sends (acks, pings, timeouts, hang-ups, reconnects).
import asyncio

from sensorfleet import mqttpkt as P
from sensorfleet.mqtt import Backoff, Client, ConnectionLost, ConnectRefused, MQTTError
from sensorfleet.transport_fake import FakeTransport

from mptest import eq

CONNACK = b"\x20\x02\x00\x00"
WILL = ("sf/d/status", b'{"online":false}', 1, True)


def client(**kw):
    c = Client("d", "u", "p", keepalive=kw.pop("keepalive", 60), will=WILL, **kw)
    c.log = lambda m: None
    return c


async def until(cond, ms=2000):
    for _ in range(ms // 5):
        if cond():
            return
        await asyncio.sleep_ms(5)
    raise AssertionError("condition not met in %d ms" % ms)


async def test_connect_writes_connect_and_reads_connack():
    c = client()
    t = FakeTransport(b"\x20\x02\x01\x00")
    sp = await c.connect(t)
    eq(sp, True)
    eq(t.take(), P.connect("d", 60, False, "u", "p", WILL))
    eq(c.connected, True)
    c.close()


async def test_connect_refused_raises_with_code():
    c = client()
    try:
        await c.connect(FakeTransport(b"\x20\x02\x00\x05"))
        raise AssertionError("no error")
    except ConnectRefused as e:
        eq(e.code, 5)
        eq(str(e), "connection refused: not authorized")
    eq(c.connected, False)


async def test_connect_times_out_without_connack_and_when_open_hangs():
    c = client(timeout_ms=150)
    t0 = asyncio.ticks()
    try:
        await c.connect(FakeTransport(b""))
        raise AssertionError("no error")
    except ConnectionLost as e:
        eq(str(e), "timeout")
    t = FakeTransport()
    t.hang_open = True
    try:
        await c.connect(t)
        raise AssertionError("no error")
    except ConnectionLost:
        pass
    el = asyncio.ticks_diff(asyncio.ticks(), t0)
    assert 250 <= el < 1000, el


async def test_connect_error_of_transport_is_connection_lost():
    c = client()
    try:
        await c.connect(FakeTransport(fail_open=OSError(111)))
        raise AssertionError("no error")
    except ConnectionLost:
        pass


async def test_publish_qos0_and_qos1_bytes_and_ack():
    c = client()
    acks = []
    c.on_ack = acks.append
    t = FakeTransport(CONNACK)
    await c.connect(t)
    t.take()
    await c.publish("a/b", b"x")
    eq(t.take(), b"\x30\x06\x00\x03a/bx")
    pid = await c.publish("a/b", b"hello", 1, True, tag="T1")
    eq(pid, 1)
    eq(t.take(), P.publish("a/b", b"hello", 1, True, 1))
    eq(list(c.inflight), [1])
    t.feed(P.puback(1))
    await until(lambda: acks)
    eq(acks, ["T1"])
    eq(c.inflight, {})
    t.feed(P.puback(99))  # unknown id: ignored
    await asyncio.sleep_ms(10)
    eq(c.connected, True)
    c.close()


async def test_window_blocks_until_an_ack_frees_a_slot():
    c = client(window=2)
    t = FakeTransport(CONNACK)
    await c.connect(t)
    await c.publish("t", b"1", 1)
    await c.publish("t", b"2", 1)
    eq(c.can_publish(), False)
    third = asyncio.create_task(c.publish("t", b"3", 1))
    await asyncio.sleep_ms(30)
    eq(len(c.inflight), 2)
    t.feed(P.puback(1))
    await until(lambda: len(c.order) == 2 and c.order[-1] == 3)
    eq(c.order, [2, 3])
    await third
    c.close()


async def test_unacked_messages_are_resent_with_dup_after_reconnect_in_order():
    c = client()
    acks = []
    c.on_ack = acks.append
    t = FakeTransport(CONNACK)
    await c.connect(t)
    await c.publish("t", b"one", 1, tag=1)
    await c.publish("t", b"two", 1, tag=2)
    await c.publish("t", b"three", 1, tag=3)
    t.feed(P.puback(2))  # acks may come out of order
    await until(lambda: acks == [2])
    t.hangup()
    await until(lambda: not c.connected)
    eq(await c.wait_closed() is not None, True)
    try:
        await c.publish("t", b"four", 1)
        raise AssertionError("publish while down must raise")
    except ConnectionLost:
        pass
    t2 = FakeTransport(CONNACK)
    await c.connect(t2)
    out = t2.take()
    expect = (
        P.connect("d", 60, False, "u", "p", WILL)
        + P.publish("t", b"one", 1, False, 1, True)
        + P.publish("t", b"three", 1, False, 3, True)
    )
    eq(out, expect)
    eq(c.retransmits, 2)
    t2.feed(P.puback(1) + P.puback(3))
    await until(lambda: len(acks) == 3)
    eq(acks, [2, 1, 3])
    c.close()


async def test_write_failure_keeps_a_taken_message_for_retransmission():
    c = client()
    t = FakeTransport(CONNACK)
    await c.connect(t)
    t.eof = True  # writes now fail
    pid = await c.publish("t", b"x", 1, tag="x")
    eq(c.connected, False)
    eq(c.order, [pid])
    t2 = FakeTransport(CONNACK)
    await c.connect(t2)
    assert t2.take().endswith(P.publish("t", b"x", 1, False, pid, True))
    c.close()


async def test_keepalive_ping_and_missing_pingresp():
    c = client(keepalive=1, timeout_ms=300)
    t = FakeTransport(CONNACK)
    await c.connect(t)
    t.take()
    await until(lambda: bytes(t.out) == P.PINGREQ_PKT, 1500)
    t.take()
    t.feed(b"\xd0\x00")  # PINGRESP
    await asyncio.sleep_ms(100)
    eq(c.connected, True)
    await until(lambda: bytes(t.out) == P.PINGREQ_PKT, 1500)
    # no PINGRESP this time: the link is declared dead after the timeout
    await until(lambda: not c.connected, 1500)
    eq(c.dead, "ConnectionLost: no PINGRESP")


async def test_incoming_qos1_message_is_handled_then_acked():
    c = client()
    got = []

    async def on_msg(topic, payload, retain):
        got.append((topic, payload, retain))

    c.on_message = on_msg
    t = FakeTransport(CONNACK)
    await c.connect(t)
    t.take()
    t.feed(P.publish("sf/d/cmd", b'{"id":"c1"}', 1, False, 0x4242))
    await until(lambda: t.out)
    eq(got, [("sf/d/cmd", b'{"id":"c1"}', False)])
    eq(t.take(), P.puback(0x4242))
    c.close()


async def test_failing_handler_is_isolated_and_message_still_acked():
    c = client()

    async def boom(topic, payload, retain):
        raise ValueError("bad")

    c.on_message = boom
    t = FakeTransport(CONNACK)
    await c.connect(t)
    t.take()
    t.feed(P.publish("x", b"1", 1, False, 5))
    await until(lambda: t.out)
    eq(t.take(), P.puback(5))
    eq(c.connected, True)
    c.close()


async def test_oversized_message_is_skipped_and_acked():
    c = client(max_in=64)
    got = []

    async def on_msg(topic, payload, retain):
        got.append(payload)

    c.on_message = on_msg
    t = FakeTransport(CONNACK)
    await c.connect(t)
    t.take()
    t.feed(P.publish("big", b"z" * 2000, 1, False, 9) + P.publish("small", b"ok", 1, False, 10))
    await until(lambda: got)
    await until(lambda: len(t.out) >= 8)
    eq(got, [b"ok"])
    eq(t.take(), P.puback(9) + P.puback(10))
    c.close()


async def test_subscribe_and_refusal():
    c = client()
    t = FakeTransport(CONNACK)
    await c.connect(t)
    t.take()
    task = asyncio.create_task(c.subscribe("sf/d/cmd", 1))
    await until(lambda: t.out)
    eq(t.take(), P.subscribe(1, [("sf/d/cmd", 1)]))
    t.feed(b"\x90\x03\x00\x01\x01")
    eq(await task, 1)
    task = asyncio.create_task(c.subscribe("nope", 1))
    await until(lambda: t.out)
    t.feed(b"\x90\x03\x00\x02\x80")
    try:
        await task
        raise AssertionError("no error")
    except MQTTError as e:
        assert "refused" in str(e)
    c.close()


async def test_unexpected_packet_drops_the_link():
    c = client()
    t = FakeTransport(CONNACK)
    await c.connect(t)
    t.feed(b"\x20\x02\x00\x00")  # a second CONNACK
    await until(lambda: not c.connected)
    assert "unexpected packet" in c.dead


async def test_malformed_remaining_length_drops_the_link():
    c = client()
    t = FakeTransport(CONNACK)
    await c.connect(t)
    t.feed(b"\x30\x80\x80\x80\x80\x01")  # five length bytes: the spec allows four
    await until(lambda: not c.connected)
    assert "malformed remaining length" in c.dead, c.dead


async def test_disconnect_sends_disconnect():
    c = client()
    t = FakeTransport(CONNACK)
    await c.connect(t)
    t.take()
    await c.disconnect()
    eq(bytes(t.out), P.DISCONNECT_PKT)
    eq(c.connected, False)
    eq(t.closed, True)


def test_backoff_grows_with_jitter_and_resets():
    lo = Backoff(100, 1000, lambda bits: 0)
    hi = Backoff(100, 1000, lambda bits: 65535)
    eq([lo.next() for _ in range(6)], [50, 100, 200, 400, 500, 500])
    eq([hi.next() for _ in range(6)], [99, 199, 399, 799, 999, 999])
    lo.reset()
    eq(lo.next(), 50)
    r = Backoff(500, 60000)
    for _ in range(20):
        d = r.next()
        assert 0 < d <= 60000
