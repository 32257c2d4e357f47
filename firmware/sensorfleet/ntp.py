# SNTP for the board's clock: one non-blocking UDP query at a time, polled from the event loop,
# every one bounded by a timeout; failures are retried with growing delays, success re-synced hourly.
import asyncio
from time import ticks_ms, ticks_diff

NTP_DELTA = 2208988800  # seconds from 1900-01-01 to 1970-01-01


def ntp_request():
    q = bytearray(48)
    q[0] = 0x23  # LI 0, version 4, mode 3 (client)
    return q


def ntp_parse(data):
    # Transmit timestamp of a server reply -> epoch ms; ValueError for anything unusable.
    if len(data) < 48:
        raise ValueError("short NTP reply")
    mode = data[0] & 7
    stratum = data[1]
    if mode != 4 or stratum == 0 or stratum > 15:
        raise ValueError("bad NTP reply (mode %d, stratum %d)" % (mode, stratum))
    secs = data[40] << 24 | data[41] << 16 | data[42] << 8 | data[43]
    frac = data[44] << 24 | data[45] << 16 | data[46] << 8 | data[47]
    if not secs:
        raise ValueError("NTP reply without time")
    return (secs - NTP_DELTA) * 1000 + (frac * 1000 >> 32)


async def sntp(addr, timeout_ms=2000):
    # One SNTP query to addr (a sockaddr from getaddrinfo) on a non-blocking UDP socket, polled from
    # the event loop: never blocks, gives up after timeout_ms. Returns epoch ms (midpoint-corrected).
    import socket

    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.setblocking(False)
        t0 = ticks_ms()
        s.sendto(ntp_request(), addr)
        while ticks_diff(ticks_ms(), t0) < timeout_ms:
            try:
                data = s.recv(64)
            except OSError:
                await asyncio.sleep_ms(20)
                continue
            return ntp_parse(data) + ticks_diff(ticks_ms(), t0) // 2
        raise OSError("NTP timeout")
    finally:
        s.close()


async def ntp_task(clock, host, port=123, log=print, retry_ms=(2000, 300000), every_ms=3600000, resolve=None,
                   timeout_ms=2000, on_sync=None):
    # Keeps the clock synced: retries failures with growing delays, then re-syncs every hour.
    # on_sync(epoch_ms) gets each new time (the board's RTC, which TLS checks certificates against).
    delay = retry_ms[0]
    while True:
        try:
            if resolve is None:
                import socket

                addr = socket.getaddrinfo(host, port, 0, socket.SOCK_DGRAM)[0][-1]
            else:
                addr = resolve(host, port)
            ms = await sntp(addr, timeout_ms)
            clock.set_epoch_ms(ms)
            if on_sync:
                on_sync(ms)
            if clock.syncs == 1:
                log("clock: synced from %s" % host)
            delay = retry_ms[0]
            await asyncio.sleep_ms(every_ms)
        except Exception as e:
            log("clock: NTP failed (%s), retrying in %d s" % (e, delay // 1000))
            await asyncio.sleep_ms(delay)
            delay = min(delay * 2, retry_ms[1])
