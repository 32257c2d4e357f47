# Device time. Uptime comes from ticks_ms (wrap-safe); epoch time is uptime + a base learnt from
# NTP (or, on the unix port, from the host). Until then readings carry uptime and are sent with `age`.
from time import ticks_ms, ticks_diff


class Clock:
    def __init__(self):
        self._last = ticks_ms()
        self._up = 0
        self.base = None  # epoch ms at uptime 0, once synced
        self.syncs = 0

    def uptime_ms(self):
        # Call at least every few days (the housekeeping loop does) so ticks never wrap unseen.
        now = ticks_ms()
        self._up += ticks_diff(now, self._last)
        self._last = now
        return self._up

    def synced(self):
        return self.base is not None

    def now_ms(self):
        return self.base + self.uptime_ms() if self.base is not None else None

    def set_epoch_ms(self, ms):
        self.base = ms - self.uptime_ms()
        self.syncs += 1
