# Bosch BME280 (temperature, pressure, humidity) on I2C, forced mode, with the datasheet's integer
# compensation (BME280 datasheet 4.2.3 / 8.2: int32 temperature, int64 pressure, int32 humidity).
# The bus is passed in (machine.I2C or anything with readfrom_mem / writeto_mem).
from struct import unpack_from

CHIP_ID = 0x60


def _tdiv(a, b):
    # C integer division (truncates toward zero), as in the reference code.
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


class Calib:
    def __init__(self, c88, ce1):
        # c88: 26 bytes from 0x88 (T1..P9, -, H1); ce1: 7 bytes from 0xE1 (H2..H6).
        (self.T1, self.T2, self.T3, self.P1, self.P2, self.P3, self.P4, self.P5, self.P6, self.P7,
         self.P8, self.P9) = unpack_from("<HhhHhhhhhhhh", c88, 0)
        self.H1 = c88[25]
        self.H2 = unpack_from("<h", ce1, 0)[0]
        self.H3 = ce1[2]
        e4 = ce1[3] - 256 if ce1[3] > 127 else ce1[3]
        e6 = ce1[5] - 256 if ce1[5] > 127 else ce1[5]
        self.H4 = e4 * 16 | (ce1[4] & 0x0F)
        self.H5 = e6 * 16 | (ce1[4] >> 4)
        self.H6 = ce1[6] - 256 if ce1[6] > 127 else ce1[6]


def compensate_t(c, adc_t):
    # -> (temperature in 0.01 degC, t_fine)
    v1 = (((adc_t >> 3) - (c.T1 << 1)) * c.T2) >> 11
    v2 = (((((adc_t >> 4) - c.T1) * ((adc_t >> 4) - c.T1)) >> 12) * c.T3) >> 14
    t_fine = v1 + v2
    return (t_fine * 5 + 128) >> 8, t_fine


def compensate_p(c, adc_p, t_fine):
    # -> pressure in Pa as Q24.8 (divide by 256), 0 if the calibration would divide by zero
    v1 = t_fine - 128000
    v2 = v1 * v1 * c.P6
    v2 = v2 + ((v1 * c.P5) << 17)
    v2 = v2 + (c.P4 << 35)
    v1 = ((v1 * v1 * c.P3) >> 8) + ((v1 * c.P2) << 12)
    v1 = (((1 << 47) + v1) * c.P1) >> 33
    if v1 == 0:
        return 0
    p = 1048576 - adc_p
    p = _tdiv(((p << 31) - v2) * 3125, v1)
    v1 = (c.P9 * (p >> 13) * (p >> 13)) >> 25
    v2 = (c.P8 * p) >> 19
    return ((p + v1 + v2) >> 8) + (c.P7 << 4)


def compensate_h(c, adc_h, t_fine):
    # -> relative humidity in %RH as Q22.10 (divide by 1024)
    x = t_fine - 76800
    x = (((((adc_h << 14) - (c.H4 << 20) - (c.H5 * x)) + 16384) >> 15)
         * (((((((x * c.H6) >> 10) * (((x * c.H3) >> 11) + 32768)) >> 10) + 2097152) * c.H2 + 8192) >> 14))
    x = x - (((((x >> 15) * (x >> 15)) >> 7) * c.H1) >> 4)
    x = 0 if x < 0 else x
    x = 419430400 if x > 419430400 else x
    return x >> 12


def raw_values(d):
    # 8 data bytes from 0xF7 -> (adc_p, adc_t, adc_h)
    return ((d[0] << 12) | (d[1] << 4) | (d[2] >> 4), (d[3] << 12) | (d[4] << 4) | (d[5] >> 4), (d[6] << 8) | d[7])


class BME280:
    def __init__(self, i2c, addr=0x76):
        self.i2c = i2c
        self.addr = addr
        cid = i2c.readfrom_mem(addr, 0xD0, 1)[0]
        if cid != CHIP_ID:
            raise OSError("no BME280 at 0x%02x (chip id 0x%02x)" % (addr, cid))
        self.c = Calib(i2c.readfrom_mem(addr, 0x88, 26), i2c.readfrom_mem(addr, 0xE1, 7))

    def start(self):
        # Forced mode, x1 oversampling of all three: one measurement, ~10 ms.
        self.i2c.writeto_mem(self.addr, 0xF2, b"\x01")
        self.i2c.writeto_mem(self.addr, 0xF4, b"\x25")
        return 12

    def result(self):
        for _ in range(10):
            if not self.i2c.readfrom_mem(self.addr, 0xF3, 1)[0] & 0x08:
                break
        adc_p, adc_t, adc_h = raw_values(self.i2c.readfrom_mem(self.addr, 0xF7, 8))
        t, tf = compensate_t(self.c, adc_t)
        p = compensate_p(self.c, adc_p, tf)
        h = compensate_h(self.c, adc_h, tf)
        return {"temperature": t / 100, "pressure": round(p / 25600, 2), "humidity": round(h / 1024, 2)}
