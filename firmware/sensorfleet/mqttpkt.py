# MQTT 3.1.1 packets to and from bytes, as pure functions: no I/O.
# The client (mqtt.py) and the tests (byte-for-byte against the spec) both use it.
from struct import pack, unpack_from

CONNECT = 1
CONNACK = 2
PUBLISH = 3
PUBACK = 4
SUBSCRIBE = 8
SUBACK = 9
PINGREQ = 12
PINGRESP = 13
DISCONNECT = 14

PINGREQ_PKT = b"\xc0\x00"
DISCONNECT_PKT = b"\xe0\x00"

# CONNACK return codes (3.1.1 table 3.1)
CONNACK_REASONS = (
    "accepted",
    "unacceptable protocol version",
    "identifier rejected",
    "server unavailable",
    "bad user name or password",
    "not authorized",
)


class ProtocolError(ValueError):
    pass


def enc_len(n):
    # Remaining length: 7 bits per byte, high bit = more; at most 4 bytes.
    if n < 0 or n > 268435455:
        raise ProtocolError("remaining length out of range")
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def dec_len(buf):
    # The remaining length at the start of `buf`: (value, bytes used), or None when `buf` ends
    # before the length does.
    n = 0
    shift = 0
    for i in range(len(buf)):
        b = buf[i]
        n |= (b & 0x7F) << shift
        if not b & 0x80:
            return n, i + 1
        shift += 7
        if shift > 21:
            raise ProtocolError("malformed remaining length")
    return None


def _s(v):
    # A UTF-8 string / binary field with its 2-byte length.
    if isinstance(v, str):
        v = v.encode()
    if len(v) > 65535:
        raise ProtocolError("field too long")
    return pack("!H", len(v)) + v


def connect(client_id, keepalive=60, clean=True, user=None, password=None, will=None):
    # will: (topic, message, qos, retain) or None
    flags = 0x02 if clean else 0
    payload = _s(client_id)
    if will:
        topic, msg, qos, retain = will
        flags |= 0x04 | (qos << 3) | (0x20 if retain else 0)
        payload += _s(topic) + _s(msg)
    if user is not None:
        flags |= 0x80
        payload += _s(user)
        if password is not None:
            flags |= 0x40
            payload += _s(password)
    body = b"\x00\x04MQTT\x04" + bytes((flags,)) + pack("!H", keepalive) + payload
    return b"\x10" + enc_len(len(body)) + body


def publish_header(topic, payload_len, qos=0, retain=False, pid=0, dup=False):
    # Everything of a PUBLISH packet up to its payload (sent separately: no 1 KiB copy).
    t = _s(topic)
    n = len(t) + payload_len + (2 if qos else 0)
    first = 0x30 | (0x08 if dup else 0) | (qos << 1) | (1 if retain else 0)
    h = bytes((first,)) + enc_len(n) + t
    if qos:
        h += pack("!H", pid)
    return h


def publish(topic, payload, qos=0, retain=False, pid=0, dup=False):
    return publish_header(topic, len(payload), qos, retain, pid, dup) + payload


def puback(pid):
    return b"\x40\x02" + pack("!H", pid)


def subscribe(pid, topics):
    # topics: list of (filter, qos)
    body = pack("!H", pid)
    for f, q in topics:
        body += _s(f) + bytes((q,))
    return b"\x82" + enc_len(len(body)) + body


def parse_connack(body):
    # -> (session_present, return_code)
    if len(body) != 2:
        raise ProtocolError("bad CONNACK")
    return bool(body[0] & 1), body[1]


def parse_publish(flags, body):
    # -> (topic, payload, qos, pid, retain, dup)
    qos = (flags >> 1) & 3
    if qos == 3 or len(body) < 2:
        raise ProtocolError("bad PUBLISH")
    tl = unpack_from("!H", body, 0)[0]
    i = 2 + tl
    if i > len(body):
        raise ProtocolError("bad PUBLISH topic")
    topic = str(body[2:i], "utf-8")
    pid = 0
    if qos:
        if i + 2 > len(body):
            raise ProtocolError("bad PUBLISH id")
        pid = unpack_from("!H", body, i)[0]
        i += 2
    # The payload is a view of the packet, not a copy: an update's chunks are 1 KiB each.
    return topic, memoryview(body)[i:], qos, pid, bool(flags & 1), bool(flags & 8)


def parse_pid(body):
    if len(body) < 2:
        raise ProtocolError("bad packet id")
    return unpack_from("!H", body, 0)[0]


def parse_suback(body):
    # -> (pid, [granted qos or 0x80 for failure, ...])
    if len(body) < 3:
        raise ProtocolError("bad SUBACK")
    return unpack_from("!H", body, 0)[0], list(body[2:])
