# Drivers at the byte level against datasheet vectors, and each one against its simulated bus.
import asyncio
from struct import pack

from drivers import bme280 as B
from drivers import dht22, ds18b20, sht3x
from drivers.crc8 import maxim, sensirion
from drivers.sim import Sim
from hal import fakes

from mptest import eq, raises

# BMP280/BME280 datasheet, compensation example (section 8.1 / 3.12): T and P coefficients.
EX = pack("<HhhHhhhhhhhh", 27504, 26435, -1000, 36477, -10685, 3024, 2855, 140, -7, 15500, -14600, 6000)


def test_bme280_datasheet_compensation_example():
    c = B.Calib(EX + b"\x00\x4b", bytes((0x6A, 0x01, 0x00, 0x13, 0x29, 0x03, 0x1E)))
    t, t_fine = B.compensate_t(c, 519888)
    eq(t, 2508)  # 25.08 degC
    eq(t_fine, 128422)
    p = B.compensate_p(c, 415148, t_fine) / 256
    assert abs(p - 100653.27) < 0.1, p  # datasheet: 100653.27 Pa


def _h_double(c, adc_h, t_fine):
    # The datasheet's floating-point humidity formula, as an independent check of the integer one.
    h = t_fine - 76800.0
    h = (adc_h - (c.H4 * 64.0 + c.H5 / 16384.0 * h)) * (
        c.H2 / 65536.0 * (1.0 + c.H6 / 67108864.0 * h * (1.0 + c.H3 / 67108864.0 * h))
    )
    h = h * (1.0 - c.H1 * h / 524288.0)
    return min(100.0, max(0.0, h))


def test_bme280_humidity_calibration_and_integer_formula():
    ce1 = bytes((0x6A, 0x01, 0x00, 0x13, 0x29, 0x03, 0x1E))
    c = B.Calib(EX + b"\x00\x4b", ce1)
    eq((c.H1, c.H2, c.H3, c.H4, c.H5, c.H6), (75, 362, 0, 313, 50, 30))
    c2 = B.Calib(EX + b"\x00\x00", bytes((0, 0, 0, 0xF0, 0x2F, 0xFF, 0xFE)))  # negative H4/H5/H6
    eq((c2.H4, c2.H5, c2.H6), (-256 | 0xF, -16 | 2, -2))
    for adc_h in (20000, 30000, 35000):
        for t_fine in (100000, 128422, 150000):
            hi = B.compensate_h(c, adc_h, t_fine) / 1024
            hd = _h_double(c, adc_h, t_fine)
            assert abs(hi - hd) < 0.05, (adc_h, t_fine, hi, hd)
    eq(B.raw_values(bytes((0x65, 0x5A, 0xC0, 0x7E, 0xED, 0x00, 0x75, 0x30))), (415148, 519888, 30000))


def test_bme280_driver_on_simulated_bus():
    d = B.BME280(fakes.FakeI2C("dev-1"), 0x76)
    eq(d.start() > 0, True)
    v = d.result()
    assert 20 < v["temperature"] < 30 and 950 < v["pressure"] < 1050 and 20 < v["humidity"] < 80, v
    raises(OSError, B.BME280, fakes.FakeI2C(), 0x10)


def test_sensirion_crc_and_sht3x():
    eq(sensirion(b"\xbe\xef"), 0x92)  # SHT3x datasheet 4.12
    eq(sensirion(b"\x00\x00"), 0x81)
    t, h = sht3x.convert(b"\x66\x66\x93\x80\x00\xa2")
    assert abs(t - (-45 + 175 * 0x6666 / 65535)) < 1e-6 and abs(h - 50.0) < 0.01, (t, h)
    raises(ValueError, sht3x.convert, b"\x66\x66\x00\x80\x00\xa2")
    s = sht3x.SHT3x(fakes.FakeI2C("dev-1"))
    s.start()
    v = s.result()
    assert 15 < v["temperature"] < 30 and 30 < v["humidity"] < 60, v


def test_maxim_crc_and_ds18b20():
    eq(maxim(bytes((0x02, 0x1C, 0xB8, 0x01, 0, 0, 0))), 0xA2)  # Maxim app note 27 ROM example
    eq(maxim(bytes((0x02, 0x1C, 0xB8, 0x01, 0, 0, 0, 0xA2))), 0)
    power_on = bytes((0x50, 0x05, 0x4B, 0x46, 0x7F, 0xFF, 0x0C, 0x10))  # +85 degC reset value
    eq(maxim(power_on), 0x1C)
    eq(ds18b20.decode(power_on + b"\x1c"), 85.0)
    sp = bytes((0x5E, 0xFF, 0x4B, 0x46, 0x7F, 0xFF, 0x0C, 0x10))  # datasheet table: 0xFF5E = -10.125
    eq(ds18b20.decode(sp + bytes((maxim(sp),))), -10.125)
    raises(ValueError, ds18b20.decode, power_on + b"\x1d")
    d = ds18b20.DS18B20(fakes.FakeOneWire("dev-1", 2))
    eq(d.start(), 750)
    v = d.result()
    eq(sorted(v), ["temperature_1", "temperature_2"])


def test_dht22_decoding():
    eq(dht22.decode(bytes((0x02, 0x8C, 0x01, 0x5F, 0xEE))), (35.1, 65.2))  # datasheet example
    eq(dht22.decode(bytes((0x02, 0x8C, 0x80, 0x65, 0x73))), (-10.1, 65.2))
    raises(ValueError, dht22.decode, bytes((0x02, 0x8C, 0x01, 0x5F, 0xEF)))
    d = dht22.DHT22(fakes.fake_dht("dev-1"))
    v = d.result()
    assert 15 < v["temperature"] < 30 and 40 < v["humidity"] < 60, v


def test_adc_and_internal():
    from drivers.adc import ADCSensor
    from drivers.internal import Internal

    v = ADCSensor(fakes.FakeADC(0), "battery", 2.0, 0.1).result()
    assert abs(v["battery"] - 3.4) < 0.15, v

    class U16:
        def read_u16(self):
            return 65535

    eq(ADCSensor(U16()).result(), {"voltage": 3.3})
    eq(Internal(lambda: 41.26).result(), {"mcu_temperature": 41.3})


def test_sim_is_deterministic_smooth_and_plausible():
    a = Sim("dev-1/0", ["temperature", "humidity", "pressure", "co2"])
    b = Sim("dev-1/0", ["temperature", "humidity", "pressure", "co2"])
    c = Sim("dev-2/0", ["temperature", "humidity", "pressure", "co2"])
    t0 = 1764000000000
    eq(a.read(t0), b.read(t0))
    assert a.read(t0) != c.read(t0)
    prev = a.read(t0)
    for i in range(1, 500):
        v = a.read(t0 + i * 10000)
        assert 10 < v["temperature"] < 30 and 20 < v["humidity"] < 70, v
        assert 990 < v["pressure"] < 1030 and 300 < v["co2"] < 1000, v
        assert abs(v["temperature"] - prev["temperature"]) < 0.2, (prev, v)  # smooth over 10 s
        assert isinstance(v["co2"], int)
        prev = v


def f32(x):
    # x as the board's single-precision float holds it
    from struct import pack, unpack

    return unpack("<f", pack("<f", x))[0]


def test_sim_values_from_epoch_times_survive_single_precision_floats():
    # On the ESP32 floats are 32-bit: every float computed from a time must stay small enough that
    # rounding it to 32 bits moves it by far less than a second's worth of change.
    import drivers.sim as S
    from sensorfleet.clock import Clock
    from sensorfleet.sensors import Sensor

    args = []
    real = S.sin

    def spy(x):
        args.append(x)
        return real(x)

    S.sin = spy
    try:
        ck = Clock()
        ck.set_epoch_ms(1764000000000)
        s = Sensor(0, {"type": "sim", "metrics": ["temperature", "humidity"]}, None, "dev-1/0")
        asyncio.run(s.read(ck))
    finally:
        S.sin = real
    eq(len(args), 4)
    for x in args:
        assert abs(f32(x) - x) < 1e-5, "sin(%r) loses %r to 32-bit floats" % (x, abs(f32(x) - x))
