# hal/esp32.py itself, on the ESP32 port's machine/network/esp32 as they behave on the chip
# (mp/esp32port/): DHT22 through machine.dht_readinto, the RTC set from NTP, reset causes
# through RTC memory, ADC attenuation names and the ADC2/WiFi conflict, the watchdog.
import asyncio

from mptest import eq, esp32port, raises


def hal_module(fresh=True):
    esp32port(fresh)
    import hal.esp32 as H

    return H


def cfg(**over):
    from sensorfleet import config as C

    raw = {"device_id": "dev-1", "wifi": {"ssid": "lab"}, "mqtt": {"host": "192.0.2.10"}, "sensors": []}
    raw.update(over)
    c, errors = C.check(raw)
    eq(errors, [])
    return c


def test_dht22_reads_through_machine_dht_readinto():
    H = hal_module()
    from sensorfleet.sensors import Sensor
    from sensorfleet.clock import Clock

    h = H.Hal()
    h.configure(cfg())
    s = Sensor(0, {"type": "dht22", "pin": 4}, h, "dev-1/0")
    eq(asyncio.run(s.read(Clock())), {"temperature": 22.5, "humidity": 51.2})
    eq(s.errors, 0)


def test_rtc_datetime_from_epoch_ms():
    H = hal_module()
    eq(H.rtc_datetime(0), (1970, 1, 1, 3, 0, 0, 0, 0))
    eq(H.rtc_datetime(951782400000), (2000, 2, 29, 1, 0, 0, 0, 0))
    eq(H.rtc_datetime(1764000000123), (2025, 11, 24, 0, 16, 0, 0, 123000))


async def test_ntp_sync_sets_the_rtc_that_tls_checks_certificates_against():
    H = hal_module()
    import machine
    from sensorfleet import ntp
    from sensorfleet.clock import Clock

    eq(machine.RTC().datetime()[0], 2000)  # after power-on
    h = H.Hal()
    h.configure(cfg())
    await h.network_up()

    async def fake_sntp(addr, timeout_ms=2000):
        return 1764000000123

    real = ntp.sntp
    ntp.sntp = fake_sntp
    ck = Clock()
    try:
        t = asyncio.create_task(h.clock_task(ck, {"ntp_host": "127.0.0.1"}, print))
        for _ in range(50):
            await asyncio.sleep_ms(10)
            if ck.synced():
                break
        t.cancel()
    finally:
        ntp.sntp = real
    assert ck.synced()
    eq(machine.RTC().datetime(), (2025, 11, 24, 0, 16, 0, 0, 123000))


def resets(fn):
    try:
        fn()
    except SystemExit as e:
        return e.value if hasattr(e, "value") else e.args[0]
    raise AssertionError("no reset")


def test_reset_causes():
    H = hal_module()
    eq(H.Hal().reset_cause(), "power_on")
    h = H.Hal()
    eq(resets(h.reboot), 99)
    H = hal_module(fresh=False)
    eq(H.Hal().reset_cause(), "reboot")  # the port itself says HARD_RESET
    eq(resets(H.Hal().crash_reset), 99)
    H = hal_module(fresh=False)
    eq(H.Hal().reset_cause(), "crash")
    import machine

    eq(resets(machine.reset), 99)  # a reset the firmware did not ask for (a panic reads the same)
    H = hal_module(fresh=False)
    eq(H.Hal().reset_cause(), "hard")


def test_adc_attenuation_names_and_adc2_refused():
    H = hal_module()
    h = H.Hal()
    h.configure(cfg(sensors=[{"type": "adc", "pin": 34, "atten": "2.5db"}]))
    import machine

    a = h.adc(34, "2.5db")
    eq(a.att, machine.ADC.ATTN_2_5DB)
    eq(h.adc(35, "11db").att, machine.ADC.ATTN_11DB)
    from sensorfleet.config import ConfigError

    e = raises(ConfigError, h.configure, cfg(sensors=[{"type": "adc", "pin": 25}]))
    assert "sensors[0]: pin 25 is on ADC2" in str(e), e
    e = raises(ConfigError, h.configure, cfg(sensors=[{"type": "adc", "pin": 34, "atten": "3db"}]))
    assert "atten must be one of 0db, 2.5db, 6db, 11db" in str(e), e


async def test_adc2_fails_while_wifi_is_on_which_is_why_it_is_refused():
    H = hal_module()
    h = H.Hal()
    h.configure(cfg())
    await h.network_up()
    import machine

    raises(OSError, machine.ADC(machine.Pin(25)).read_uv)
    eq(machine.ADC(machine.Pin(34)).read_uv(), 1650000)


def test_watchdog_starts_once_and_cannot_be_stopped():
    H = hal_module()
    import machine

    h = H.Hal()
    h.wdt_start(0)
    eq(machine.state().get("wdt_starts", 0), 0)
    h.wdt_start(30)
    h.wdt_start(30)
    eq(machine.state()["wdt_starts"], 1)
    assert not hasattr(h.wdt, "deinit") and not hasattr(h.wdt, "stop")
    h.wdt.timeout = 10
    import time

    time.sleep_ms(30)
    eq(resets(h.wdt_feed), 99)
    eq(machine.state()["cause"], machine.WDT_RESET)
    H = hal_module(fresh=False)
    eq(H.Hal().reset_cause(), "wdt")


def test_internal_temperature_on_the_original_esp32():
    H = hal_module()
    eq(H.Hal().mcu_temperature(), 45.0)


def test_halt_stays_and_feeds_the_watchdog_instead_of_exiting():
    # sys.exit() soft-resets an ESP32 (stop_after would boot again and again) and returning leaves a
    # started watchdog to reset it: halt() must do neither.
    H = hal_module()
    h = H.Hal()
    h.wdt_start(30)
    fed = []

    def feed():
        fed.append(1)
        if len(fed) == 2:
            raise KeyboardInterrupt  # Ctrl-C, as mpremote sends it

    h.wdt.feed = feed
    raises(KeyboardInterrupt, h.halt, 0)
    eq(len(fed), 2)
