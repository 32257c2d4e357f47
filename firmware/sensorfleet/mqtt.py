# An asyncio MQTT 3.1.1 client: QoS 0/1 publish with a small in-flight window and PUBACK tracking,
# subscribe, keepalive pings, last will, DUP retransmission of unacknowledged messages on reconnect.
# Every socket operation is bounded by a timeout. Packets come from mqttpkt (pure); the transport is
# passed in (transport.StreamTransport on a board, transport_fake.FakeTransport in tests). Reconnect
# policy (backoff with jitter) lives a layer above, in app.py, using Backoff below.
#
# Exceptions:
#   MQTTError             any failure of this client
#   ├── ConnectRefused    the broker answered CONNACK with a non-zero code (.code)
#   └── ConnectionLost    the link is gone: I/O error, timeout, EOF, protocol violation
import asyncio
from time import ticks_ms, ticks_diff
from . import mqttpkt as P


class MQTTError(Exception):
    pass


class ConnectRefused(MQTTError):
    def __init__(self, code):
        self.code = code
        r = P.CONNACK_REASONS[code] if code < len(P.CONNACK_REASONS) else "code %d" % code
        super().__init__("connection refused: " + r)


class ConnectionLost(MQTTError):
    pass


RBUF = 1280  # an update's chunk (12 + 1024 bytes) with a topic of up to 240


class Client:
    def __init__(self, client_id, user=None, password=None, keepalive=60, clean=False, will=None,
                 window=4, timeout_ms=10000, max_in=4096):
        self.client_id = client_id
        self.user = user
        self.password = password
        self.keepalive = keepalive
        self.clean = clean
        self.will = will  # (topic, payload, qos, retain)
        self.window = window
        self.timeout = timeout_ms
        self.max_in = max_in
        # Incoming packets up to its size are read into this one buffer instead of a new bytes each:
        # an update's chunks (1 KiB) then never need a fresh block of a fragmented heap. What
        # on_message gets is a view of it, valid until it returns.
        self.rbuf = bytearray(RBUF)
        self.inflight = {}  # pid -> (topic, payload, retain, tag): QoS 1 messages not yet acknowledged
        self.order = []  # their pids, oldest first (retransmitted in this order)
        self.on_message = None  # async f(topic, payload, retain); PUBACK is sent after it returns.
        # payload is a memoryview that the next packet overwrites: copy what is kept.
        self.on_ack = None  # f(tag) when a QoS 1 message is acknowledged
        self.log = print
        self.connected = False
        self.dead = None  # why the last connection ended
        self.t = None
        self._pid = 0
        self._lock = asyncio.Lock()
        self._change = asyncio.Event()  # an ack arrived or the connection ended
        self._subs = {}
        self._tasks = ()
        self._ping_at = None
        self._last_tx = self._last_rx = ticks_ms()
        self.bytes_out = 0
        self.bytes_in = 0
        self.retransmits = 0

    # -- connection ---------------------------------------------------------------------------
    async def connect(self, transport):
        # Opens the transport, CONNECT/CONNACK, retransmits the in-flight window with DUP,
        # starts the reader and the pinger. Returns session_present. Raises MQTTError.
        self.close()
        self.t = transport
        self.dead = None
        try:
            await asyncio.wait_for_ms(transport.open(), self.timeout)
            await self._write(P.connect(self.client_id, self.keepalive, self.clean, self.user,
                                        self.password, self.will))
            typ, flags, body = await self._read_packet(self.timeout)
            if typ != P.CONNACK:
                raise ConnectionLost("expected CONNACK, got type %d" % typ)
            sp, rc = P.parse_connack(body)
            if rc:
                raise ConnectRefused(rc)
            for pid in self.order:
                topic, payload, retain, _ = self.inflight[pid]
                self.retransmits += 1
                await self._send_pub(topic, payload, 1, retain, pid, True)
        except MQTTError:
            self.close()
            raise
        except Exception as e:  # OSError, TimeoutError, ProtocolError
            self.close()
            raise ConnectionLost(describe(e))
        self._last_rx = self._last_tx = ticks_ms()
        self._ping_at = None
        self.connected = True
        self._tasks = (asyncio.create_task(self._reader()), asyncio.create_task(self._pinger()))
        return sp

    def close(self, why=None):
        # Drops the link (no DISCONNECT: the broker publishes the will). In-flight messages stay.
        if why is not None and self.dead is None:
            self.dead = why
        self.connected = False
        cur = asyncio.current_task()
        for t in self._tasks:
            if t is not cur:
                t.cancel()
        self._tasks = ()
        if self.t:
            self.t.close()
            self.t = None
        self._change.set()

    async def disconnect(self):
        # A clean goodbye: DISCONNECT (the broker discards the will), then close.
        if self.connected:
            try:
                await self._send(P.DISCONNECT_PKT)
            except MQTTError:
                pass
        self.close("disconnected")

    async def wait_closed(self):
        while self.connected:
            self._change.clear()
            await self._change.wait()
        return self.dead

    def _fail(self, e):
        if self.connected or self.t:
            self.log("mqtt: connection lost: " + describe(e))
        self.close(describe(e))

    # -- sending ------------------------------------------------------------------------------
    async def _write(self, data, more=None):
        async with self._lock:
            if self.t is None:
                raise OSError("not connected")
            await asyncio.wait_for_ms(self.t.write(data), self.timeout)
            self.bytes_out += len(data)
            if more:
                await asyncio.wait_for_ms(self.t.write(more), self.timeout)
                self.bytes_out += len(more)
        self._last_tx = ticks_ms()

    async def _send(self, data, more=None):
        try:
            await self._write(data, more)
        except Exception as e:
            self._fail(e)
            raise ConnectionLost(describe(e))

    async def _send_pub(self, topic, payload, qos, retain, pid, dup):
        await self._write(P.publish_header(topic, len(payload), qos, retain, pid, dup), payload)

    def _next_pid(self):
        while True:
            self._pid = self._pid % 65535 + 1
            if self._pid not in self.inflight and self._pid not in self._subs:
                return self._pid

    def can_publish(self):
        return self.connected and len(self.inflight) < self.window

    async def publish(self, topic, payload, qos=0, retain=False, tag=None):
        # QoS 1: waits for a free slot in the window, then the message belongs to the client: it is
        # sent now and again (DUP) after every reconnect until its PUBACK calls on_ack(tag).
        # Raises ConnectionLost only if the link is down before the message is taken; once taken
        # (no await between can_publish() being true and that), a broken send is not an error.
        if not qos:
            return await self._send(P.publish_header(topic, len(payload), 0, retain), payload)
        while True:
            if not self.connected:
                raise ConnectionLost("not connected")
            if len(self.inflight) < self.window:
                break
            self._change.clear()
            await self._change.wait()
        pid = self._next_pid()
        self.inflight[pid] = (topic, payload, retain, tag)
        self.order.append(pid)
        try:
            await self._send_pub(topic, payload, 1, retain, pid, False)
        except Exception as e:
            self._fail(e)  # taken: it goes again (DUP) after the next connect
        return pid

    async def subscribe(self, topic, qos=1):
        pid = self._next_pid()
        ev = asyncio.Event()
        self._subs[pid] = [ev, None]
        try:
            await self._send(P.subscribe(pid, [(topic, qos)]))
            try:
                await asyncio.wait_for_ms(ev.wait(), self.timeout)
            except asyncio.TimeoutError:
                self._fail("SUBACK timeout")
                raise ConnectionLost("SUBACK timeout")
            codes = self._subs[pid][1]
        finally:
            self._subs.pop(pid, None)
        if not codes or codes[0] == 0x80:
            raise MQTTError("subscription to %s refused" % topic)
        return codes[0]

    # -- receiving ----------------------------------------------------------------------------
    async def _read_packet(self, first_timeout):
        b = await asyncio.wait_for_ms(self.t.read(1), first_timeout)
        return await asyncio.wait_for_ms(self._read_rest(b[0]), self.timeout)

    async def _read_rest(self, first):
        lb = b""
        r = None
        while r is None:
            lb += await self.t.read(1)
            r = P.dec_len(lb)
        n = r[0]
        self.bytes_in += n + 2
        typ = first >> 4
        if n <= len(self.rbuf):
            body = memoryview(self.rbuf)[:n]
            await self.t.readinto(body)
            return typ, first & 15, body
        if n <= self.max_in:
            return typ, first & 15, await self.t.read(n)
        # Too big for this board: read it away in pieces, acknowledge it if it was a QoS 1 PUBLISH.
        head = await self.t.read(min(n, 512))
        left = n - len(head)
        while left:
            k = min(left, 512)
            await self.t.read(k)
            left -= k
        if typ == P.PUBLISH and (first >> 1) & 3 == 1 and len(head) >= 2:
            i = 2 + (head[0] << 8 | head[1])
            if i + 2 <= len(head):
                self.log("mqtt: dropped an oversized message (%d bytes)" % n)
                return 0, 0, head[i:i + 2]  # type 0: "just acknowledge this pid"
        return -1, 0, b""

    async def _reader(self):
        try:
            while True:
                typ, flags, body = await self._read_packet(self.keepalive * 1000 + self.timeout)
                self._last_rx = ticks_ms()
                await self._dispatch(typ, flags, body)
        except Exception as e:
            self._fail(e)

    async def _dispatch(self, typ, flags, body):
        if typ == P.PUBACK:
            pid = P.parse_pid(body)
            m = self.inflight.pop(pid, None)
            if m is not None:
                self.order.remove(pid)
                self._change.set()
                if self.on_ack:
                    try:
                        self.on_ack(m[3])
                    except Exception as e:
                        self.log("mqtt: on_ack failed: " + describe(e))
        elif typ == P.PUBLISH:
            topic, payload, qos, pid, retain, dup = P.parse_publish(flags, body)
            if qos == 2:
                return  # never subscribed at QoS 2
            if self.on_message:
                try:
                    await self.on_message(topic, payload, retain)
                except Exception as e:  # one bad message never stops the others
                    self.log("mqtt: message on %s failed: %s" % (topic, describe(e)))
            if qos == 1:
                await self._send(P.puback(pid))
        elif typ == 0:
            await self._send(P.puback(P.parse_pid(body)))
        elif typ == P.PINGRESP:
            self._ping_at = None
        elif typ == P.SUBACK:
            pid, codes = P.parse_suback(body)
            s = self._subs.get(pid)
            if s:
                s[1] = codes
                s[0].set()
        elif typ == -1:
            pass
        else:
            raise P.ProtocolError("unexpected packet type %d" % typ)

    async def _pinger(self):
        ka = self.keepalive * 1000
        tick = min(1000, ka // 4) or 250
        try:
            while True:
                await asyncio.sleep_ms(tick)
                now = ticks_ms()
                if self._ping_at is not None:
                    if ticks_diff(now, self._ping_at) > self.timeout:
                        raise ConnectionLost("no PINGRESP")
                elif ka and (ticks_diff(now, self._last_tx) >= ka // 2 or ticks_diff(now, self._last_rx) >= ka // 2):
                    self._ping_at = now
                    await self._write(P.PINGREQ_PKT)
        except Exception as e:
            self._fail(e)


def describe(e):
    # One line saying what went wrong with a link, for the console and reconnect messages.
    if isinstance(e, str):
        return e
    if isinstance(e, asyncio.TimeoutError):
        return "timeout"
    s = " ".join(str(e).split())  # one line, whatever the TLS library put in it
    return "%s: %s" % (type(e).__name__, s) if s else type(e).__name__


class Backoff:
    # Exponential backoff with jitter: delays grow base, 2*base, ... up to cap; each one drawn
    # uniformly from [d/2, d] so that a fleet that lost its broker does not come back in step.
    def __init__(self, base_ms=500, cap_ms=60000, rand=None):
        self.base = base_ms
        self.cap = cap_ms
        self.d = base_ms
        if rand is None:
            from random import getrandbits

            rand = getrandbits
        self.rand = rand

    def next(self):
        d = self.d
        self.d = min(self.cap, self.d * 2)
        half = d // 2
        return half + (self.rand(16) * (d - half)) // 65536

    def reset(self):
        self.d = self.base
