# MQTT 3.1.1 packet bytes, checked against the spec's encodings.
from sensorfleet import mqttpkt as P

from mptest import eq, raises


def split(pkt):
    # A whole packet -> (type, flags, body), its remaining length decoded as the client decodes it.
    n, used = P.dec_len(pkt[1:])
    eq(len(pkt), 1 + used + n)
    return pkt[0] >> 4, pkt[0] & 0x0F, pkt[1 + used :]


def test_remaining_length_boundaries():
    # Spec 2.2.3 table 2.4
    for n, b in (
        (0, b"\x00"),
        (127, b"\x7f"),
        (128, b"\x80\x01"),
        (16383, b"\xff\x7f"),
        (16384, b"\x80\x80\x01"),
        (2097151, b"\xff\xff\x7f"),
        (2097152, b"\x80\x80\x80\x01"),
        (268435455, b"\xff\xff\xff\x7f"),
    ):
        eq(P.enc_len(n), b, n)
        eq(P.dec_len(b), (n, len(b)))
    raises(P.ProtocolError, P.enc_len, 268435456)
    eq(P.dec_len(b"\x80\x80"), None)  # incomplete
    raises(P.ProtocolError, P.dec_len, b"\x80\x80\x80\x80\x01")


def test_connect_minimal():
    # client id "test", clean session, keepalive 60
    eq(P.connect("test", 60, True), bytes.fromhex("101000044d5154540402003c000474657374"))


def test_connect_with_will_user_password():
    pkt = P.connect("dev-1", 30, False, "u", "pw", ("sf/dev-1/status", b'{"online":false}', 1, True))
    body = (
        b"\x00\x04MQTT\x04"
        + bytes((0x80 | 0x40 | 0x20 | 0x08 | 0x04,))
        + b"\x00\x1e"
        + b"\x00\x05dev-1"
        + b"\x00\x0fsf/dev-1/status"
        + b'\x00\x10{"online":false}'
        + b"\x00\x01u"
        + b"\x00\x02pw"
    )
    eq(pkt, b"\x10" + bytes((len(body),)) + body)


def test_connect_user_without_password():
    pkt = P.connect("c", 0, True, "u")
    eq(pkt[9], 0x82)  # username flag + clean session, no password flag


def test_publish_qos0():
    eq(P.publish("a/b", b"hi"), bytes.fromhex("30070003612f626869"))


def test_publish_qos1_retain_dup():
    eq(P.publish("a/b", b"hi", 1, True, 10, True), bytes.fromhex("3b090003612f62000a6869"))
    eq(P.publish("a/b", b"hi", 1, False, 10, False), bytes.fromhex("32090003612f62000a6869"))
    h = P.publish_header("a/b", 200, 1, False, 1)
    eq(h, bytes.fromhex("32cf010003612f620001"))  # remaining length 207 takes two bytes


def test_small_packets():
    eq(P.puback(0x1234), b"\x40\x02\x12\x34")
    eq(P.subscribe(1, [("a/b", 1)]), bytes.fromhex("820800010003612f6201"))
    eq(P.PINGREQ_PKT, b"\xc0\x00")
    eq(P.DISCONNECT_PKT, b"\xe0\x00")


def test_parse():
    eq(P.parse_connack(b"\x01\x00"), (True, 0))
    eq(P.parse_connack(b"\x00\x05"), (False, 5))
    raises(P.ProtocolError, P.parse_connack, b"\x00")
    pkt = P.publish("sf/d/cmd", b'{"id":1}', 1, True, 7, True)
    typ, flags, body = split(pkt)
    eq(typ, P.PUBLISH)
    eq(P.parse_publish(flags, body), ("sf/d/cmd", b'{"id":1}', 1, 7, True, True))
    typ, flags, body = split(P.publish("t", b""))
    eq(P.parse_publish(flags, body), ("t", b"", 0, 0, False, False))
    raises(P.ProtocolError, P.parse_publish, 6, b"\x00\x01t")  # QoS 3
    raises(P.ProtocolError, P.parse_publish, 2, b"\x00\x09t")  # topic longer than the packet
    eq(P.parse_suback(b"\x00\x01\x01"), (1, [1]))
    eq(P.parse_suback(b"\x00\x02\x80"), (2, [0x80]))
    eq(P.parse_pid(b"\x01\x02"), 0x102)


def test_long_payload_roundtrip():
    payload = bytes(range(256)) * 4
    pkt = P.publish("sf/dev-1/telemetry", payload, 1, False, 65535)
    typ, flags, body = split(pkt)
    eq(P.parse_publish(flags, body), ("sf/dev-1/telemetry", payload, 1, 65535, False, False))
