# Sensirion SHT3x (temperature, humidity) on I2C: single shot, high repeatability, CRC checked.
from drivers.crc8 import sensirion as crc8


def convert(d):
    # 6 bytes: T msb, T lsb, crc, RH msb, RH lsb, crc -> (degC, %RH); ValueError on a CRC mismatch.
    if crc8(d[0:2]) != d[2] or crc8(d[3:5]) != d[5]:
        raise ValueError("SHT3x CRC mismatch")
    t = d[0] << 8 | d[1]
    h = d[3] << 8 | d[4]
    return -45 + 175 * t / 65535, 100 * h / 65535


class SHT3x:
    def __init__(self, i2c, addr=0x44):
        self.i2c = i2c
        self.addr = addr

    def start(self):
        self.i2c.writeto(self.addr, b"\x24\x00")  # single shot, high repeatability, no stretching
        return 16

    def result(self):
        t, h = convert(self.i2c.readfrom(self.addr, 6))
        return {"temperature": round(t, 2), "humidity": round(h, 2)}
