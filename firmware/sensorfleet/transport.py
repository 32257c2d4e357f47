# Byte transports for the MQTT client. The interface, which transport_fake.FakeTransport also has:
#   await t.open()       connect (the caller bounds it with a timeout)
#   await t.read(n)      exactly n bytes; OSError on EOF or a broken link
#   await t.readinto(b)  exactly len(b) bytes into the memoryview b; the same errors
#   await t.write(data)  all of data
#   t.close()            idempotent
import asyncio


class StreamTransport:
    # TCP (optionally TLS) over asyncio streams: never blocks the event loop once connected.
    # (Name resolution is the one blocking step; use an IP address or a local resolver on the board.)
    def __init__(self, host, port, tls=None, server_hostname=None):
        self.host = host
        self.port = port
        self.tls = tls  # None, or an ssl.SSLContext (see make_tls)
        self.hostname = server_hostname or host
        self.s = None

    async def open(self):
        if self.tls:
            r, w = await asyncio.open_connection(self.host, self.port, ssl=self.tls, server_hostname=self.hostname)
        else:
            r, w = await asyncio.open_connection(self.host, self.port)
        self.s = r

    async def read(self, n):
        try:
            b = await self.s.readexactly(n)
        except EOFError:
            raise OSError("connection closed by peer")
        return b

    async def readinto(self, buf):
        # Fills buf (a memoryview) exactly; OSError on EOF.
        got = 0
        while got < len(buf):
            n = await self.s.readinto(buf[got:])
            if not n:
                raise OSError("connection closed by peer")
            got += n

    async def write(self, data):
        self.s.write(data)
        await self.s.drain()

    def close(self):
        # In MicroPython's asyncio Stream.close() does nothing; only `await wait_closed()` closes
        # the socket. Closing it here, without an await, frees the descriptor (and on TLS the
        # mbedTLS buffers) at once and sends the broker a FIN, so the last will is not late.
        s = self.s
        self.s = None
        if s:
            try:
                s.s.close()
            except Exception:
                pass


def tls_context(m):
    # What the config's MQTT settings `m` ask for: a TLS context, or None for plain TCP.
    return make_tls(m["ca"], m["tls_insecure"]) if m["tls"] else None


def make_tls(cafile=None, insecure=False):
    # A client context that verifies the server against `cafile` (PEM or DER); without one, only
    # `insecure` connects, unverified (MicroPython's own default would be CERT_NONE, silently).
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if insecure:
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    if not cafile:
        raise ValueError("TLS needs a CA file to verify the broker (or tls_insecure)")
    with open(cafile, "rb") as f:
        data = f.read()
    ctx.load_verify_locations(cadata=pem_to_der(data))
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def pem_to_der(data):
    # The first certificate of a PEM file as DER (some MicroPython builds parse DER only);
    # DER input is returned as it is.
    start = data.find(b"-----BEGIN")
    if start < 0:
        return data
    from binascii import a2b_base64

    body = data[data.index(b"\n", start) + 1 : data.index(b"-----END", start)]
    return a2b_base64(body.replace(b"\r", b"").replace(b"\n", b""))
