# Simulated buses for the unix port (and the tests): they answer like the chips do, byte for byte,
# so the real drivers run unchanged on a virtual board. Values drift slowly and deterministically.
import time
from math import sin
from struct import pack
from drivers.crc8 import sensirion, maxim

# BME280: the datasheet's compensation example (T, P) plus typical humidity trimming values.
BME_CALIB = pack("<HhhHhhhhhhhh", 27504, 26435, -1000, 36477, -10685, 3024, 2855, 140, -7, 15500, -14600,
                 6000) + b"\x00\x4b"
BME_CALIB_H = bytes((0x6A, 0x01, 0x00, 0x13, 0x29, 0x03, 0x1E))  # H2 362, H3 0, H4 313, H5 50, H6 30


def _wave(seed, period=900.0):
    return sin(time.time() / period + (seed % 628) / 100)


def _seed(s):
    h = 0
    for c in s.encode():
        h = (h * 31 + c) & 0xFFFF
    return h


class FakeI2C:
    # A BME280 at 0x76/0x77 and an SHT3x at 0x44/0x45.
    def __init__(self, seed="x"):
        self.seed = _seed(seed)
        self.sht = b""

    def _check(self, addr):
        if addr not in (0x76, 0x77, 0x44, 0x45):
            raise OSError(19)  # ENODEV, as machine.I2C reports a missing device

    def readfrom_mem(self, addr, reg, n):
        self._check(addr)
        if reg == 0xD0:
            return b"\x60"
        if reg == 0x88:
            return BME_CALIB[:n]
        if reg == 0xE1:
            return BME_CALIB_H[:n]
        if reg == 0xF3:
            return b"\x00"
        if reg == 0xF7:
            w = _wave(self.seed)
            p = 415148 + int(300 * w)
            t = 519888 + int(2000 * w)
            h = 30000 + int(1500 * _wave(self.seed + 7, 1300.0))
            return bytes((p >> 12, (p >> 4) & 0xFF, (p & 0xF) << 4, t >> 12, (t >> 4) & 0xFF, (t & 0xF) << 4,
                          h >> 8, h & 0xFF))[:n]
        return bytes(n)

    def writeto_mem(self, addr, reg, data):
        self._check(addr)

    def writeto(self, addr, data):
        self._check(addr)
        t = int((21.5 + 1.5 * _wave(self.seed) + 45) * 65535 / 175)
        h = int((45 + 5 * _wave(self.seed + 3, 1200.0)) * 65535 / 100)
        tb = bytes((t >> 8, t & 0xFF))
        hb = bytes((h >> 8, h & 0xFF))
        self.sht = tb + bytes((sensirion(tb),)) + hb + bytes((sensirion(hb),))

    def readfrom(self, addr, n):
        self._check(addr)
        return self.sht[:n]


def _rom(serial):
    r = bytes((0x28,)) + serial
    return r + bytes((maxim(r),))


class FakeOneWire:
    # `count` DS18B20 probes, with the onewire.OneWire methods the driver uses.
    def __init__(self, seed="x", count=1):
        self.seed = _seed(seed)
        self.roms = [_rom(bytes((i + 1, self.seed & 0xFF, self.seed >> 8, 0, 0, 0))) for i in range(count)]
        self.cur = None

    def scan(self):
        return list(self.roms)

    def reset(self, required=False):
        self.cur = None
        return True

    def writebyte(self, b):
        pass

    def select_rom(self, rom):
        self.cur = self.roms.index(bytes(rom))

    def readinto(self, buf):
        t = int((19.0 + self.cur + 0.8 * _wave(self.seed + self.cur)) * 16)
        sp = bytes((t & 0xFF, (t >> 8) & 0xFF, 0x4B, 0x46, 0x7F, 0xFF, 0x0C, 0x10))
        buf[:] = sp + bytes((maxim(sp),))


def fake_dht(seed="x"):
    s = _seed(seed)

    def readinto(buf):
        h = int((50 + 6 * _wave(s + 1, 1100.0)) * 10)
        t = int((22 + 2 * _wave(s)) * 10)
        b = (h >> 8, h & 0xFF, t >> 8, t & 0xFF)
        buf[:] = bytes(b + ((sum(b) & 0xFF),))

    return readinto


class FakeADC:
    def __init__(self, pin):
        self.pin = pin

    def read_uv(self):
        return int(1650000 + 50000 * _wave(self.pin))
