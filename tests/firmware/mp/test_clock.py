# Device time: uptime, sync, and an SNTP client that never blocks the loop and retries failures.
import asyncio
import socket
from time import ticks_diff, ticks_ms

from sensorfleet import ntp
from sensorfleet.clock import Clock

from mptest import eq, raises


def reply(epoch_s, frac=0x80000000, mode=4, stratum=2):
    b = bytearray(48)
    b[0] = 0x20 | mode
    b[1] = stratum
    s = epoch_s + ntp.NTP_DELTA
    b[40:44] = bytes(((s >> 24) & 255, (s >> 16) & 255, (s >> 8) & 255, s & 255))
    b[44:48] = bytes(((frac >> 24) & 255, (frac >> 16) & 255, (frac >> 8) & 255, frac & 255))
    return b


def test_clock_uptime_and_sync():
    c = Clock()
    eq(c.synced(), False)
    eq(c.now_ms(), None)
    u = c.uptime_ms()
    assert u >= 0
    c.set_epoch_ms(1764000000000)
    eq(c.synced(), True)
    assert abs(c.now_ms() - 1764000000000) < 50
    assert c.base <= 1764000000000


def test_ntp_parse():
    eq(ntp.ntp_parse(reply(1764000000)), 1764000000500)
    raises(ValueError, ntp.ntp_parse, reply(1764000000, mode=3))
    raises(ValueError, ntp.ntp_parse, reply(1764000000, stratum=0))  # kiss-of-death
    raises(ValueError, ntp.ntp_parse, b"\x24" * 20)
    eq(ntp.ntp_request()[0] & 7, 3)


class Server:
    # A local UDP "NTP server" polled from the same event loop; answers only when `on`.
    def __init__(self):
        for port in range(39123, 39300):
            self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.addr = socket.getaddrinfo("127.0.0.1", port)[0][-1]
            try:
                self.s.bind(self.addr)
                break
            except OSError:
                self.s.close()
        self.s.setblocking(False)
        self.on = False
        self.asked = 0

    async def run(self):
        while True:
            try:
                data, peer = self.s.recvfrom(64)
                self.asked += 1
                if self.on:
                    self.s.sendto(reply(1764000000), peer)
            except OSError:
                pass
            await asyncio.sleep_ms(5)


async def test_sntp_times_out_without_blocking_the_loop():
    srv = Server()
    ticks = [0]

    async def ticker():
        while True:
            ticks[0] += 1
            await asyncio.sleep_ms(10)

    t = asyncio.create_task(ticker())
    t0 = ticks_ms()
    try:
        await ntp.sntp(srv.addr, timeout_ms=300)
        raise AssertionError("no timeout")
    except OSError:
        pass
    el = ticks_diff(ticks_ms(), t0)
    assert 280 <= el < 800, el
    assert ticks[0] >= 15, ticks  # the loop kept running meanwhile
    t.cancel()
    srv.s.close()


async def test_ntp_task_retries_until_a_server_answers():
    srv = Server()
    st = asyncio.create_task(srv.run())
    c = Clock()
    logs = []
    task = asyncio.create_task(
        ntp.ntp_task(
            c, "x", log=logs.append, retry_ms=(50, 100), resolve=lambda h, p: srv.addr, timeout_ms=150
        )
    )
    await asyncio.sleep_ms(600)  # several queries time out
    eq(c.synced(), False)
    assert srv.asked >= 2 and logs and "retrying" in logs[0], logs
    srv.on = True
    for _ in range(100):
        if c.synced():
            break
        await asyncio.sleep_ms(50)
    eq(c.synced(), True)
    assert abs(c.now_ms() - 1764000000500) < 200
    task.cancel()
    st.cancel()
    srv.s.close()
