# A scripted in-memory transport for tests: feed() what the "broker" sends, read `out` for what was sent.
import asyncio


class FakeTransport:
    def __init__(self, incoming=b"", fail_open=None):
        self.inbuf = bytearray(incoming)
        self.out = bytearray()
        self.closed = False
        self.eof = False
        self.fail_open = fail_open
        self.opened = 0
        self.hang_open = False
        self._ev = asyncio.Event()

    async def open(self):
        self.opened += 1
        if self.fail_open:
            raise self.fail_open
        while self.hang_open:
            await asyncio.sleep_ms(10)

    def feed(self, data):
        self.inbuf.extend(data)
        self._ev.set()

    def hangup(self):
        self.eof = True
        self._ev.set()

    async def read(self, n):
        while len(self.inbuf) < n:
            if self.closed or self.eof:
                raise OSError("fake: connection closed")
            self._ev.clear()
            await self._ev.wait()
        b = bytes(self.inbuf[:n])
        self.inbuf = self.inbuf[n:]
        return b

    async def readinto(self, buf):
        buf[:] = await self.read(len(buf))

    async def write(self, data):
        if self.closed or self.eof:
            raise OSError("fake: write on closed connection")
        self.out.extend(data)

    def take(self):
        # What was written since the last take().
        b = bytes(self.out)
        self.out = bytearray()
        return b

    def close(self):
        self.closed = True
        self._ev.set()
