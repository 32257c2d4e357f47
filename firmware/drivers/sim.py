# The `sim` sensor: smooth, plausible, deterministic values on every HAL. Each metric is a sum of
# slow sine waves around a plausible level; amplitudes and phases come from a hash of
# (seed, metric), the seed being the device id, so a board always reproduces its own curves.
from math import sin, pi

# metric -> (level, daily swing, small wiggle, decimals)
PROFILES = {
    "temperature": (21.0, 3.0, 0.4, 2),
    "humidity": (45.0, 8.0, 1.5, 2),
    "pressure": (1013.0, 4.0, 0.3, 2),
    "co2": (600.0, 150.0, 20.0, 0),
    "light": (300.0, 280.0, 15.0, 1),
    "voltage": (3.3, 0.05, 0.01, 3),
    "battery": (90.0, 5.0, 0.5, 1),
}
DAY_MS = 86400000


def fnv1a(s):
    h = 0x811C9DC5
    for c in s.encode():
        h = ((h ^ c) * 0x01000193) & 0xFFFFFFFF
    return h


class Sim:
    def __init__(self, seed, metrics=("temperature", "humidity")):
        self.curves = []
        for m in metrics:
            h = fnv1a("%s/%s" % (seed, m))
            lvl, swing, wig, dec = PROFILES.get(m, (50.0, 10.0, 1.0, 2))
            lvl += ((h & 0xFF) / 255.0 - 0.5) * swing * 0.5  # each board sits a little apart
            ph1 = ((h >> 8) & 0xFF) / 255.0 * 2 * pi
            ph2 = ((h >> 16) & 0xFF) / 255.0 * 2 * pi
            p2 = 600000 + ((h >> 24) & 0xFF) * 10000  # a 10-50 minute wiggle, in ms
            self.curves.append((m, lvl, swing, wig, dec, ph1, ph2, p2))

    def read(self, t_ms):
        # t_ms: integer ms (epoch, or uptime before the clock is synced); the same t gives the same
        # values. Reduced to the phase within each period in integers first: the board's floats are
        # single precision, where epoch seconds (~1.8e9) move in 128 s steps.
        out = {}
        day = t_ms % DAY_MS
        for m, lvl, swing, wig, dec, ph1, ph2, p2 in self.curves:
            v = lvl + swing * sin(2 * pi * day / DAY_MS + ph1) + wig * sin(2 * pi * (t_ms % p2) / p2 + ph2)
            out[m] = round(v, dec) if dec else int(round(v))
        return out
