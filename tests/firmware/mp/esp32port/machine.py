# The ESP32 port's `machine`, as its documentation and source describe it, for the unix port: lets
# hal/esp32.py run in the tests. What a reset keeps (RTC memory, the RTC, why the chip reset) is
# kept in esp32port.json in the current directory; a reset ends the process (SystemExit 99), the
# test starts it again as the chip would boot.
import json
import time

PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5
RESET_EXIT = 99
STATE = "esp32port.json"
RTC_START = (2000, 1, 1, 5, 0, 0, 0, 0)  # where the RTC is after power-on


def state():
    try:
        with open(STATE) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def _save(st):
    with open(STATE, "w") as f:
        json.dump(st, f)


_boot = state()
_cause = _boot.get("cause", PWRON_RESET)


def reset_cause():
    return _cause


def _reset(cause):
    st = state()
    st["cause"] = cause
    st["resets"] = st.get("resets", 0) + 1
    _save(st)
    raise SystemExit(RESET_EXIT)


def reset():
    # The port reports a machine.reset() (and a panic) as HARD_RESET on the next boot.
    _reset(HARD_RESET)


def soft_reset():
    raise SystemExit(0)


def dht_readinto(pin, buf):
    # 51.2 %RH, 22.5 degC with its checksum (the bus timing is the port's job).
    b = (0x02, 0x00, 0x00, 0xE1)
    buf[:] = bytes(b + ((sum(b) & 0xFF),))


class Pin:
    IN = 1
    OUT = 3
    OPEN_DRAIN = 7
    PULL_UP = 1

    def __init__(self, id, mode=-1, pull=-1, value=None):
        self.id = id
        self.mode = mode


class RTC:
    # RTC memory survives machine.reset() and a panic, not a power cut.
    def memory(self, data=None):
        st = state()
        if data is None:
            return bytes.fromhex(st.get("rtc_mem", ""))
        st["rtc_mem"] = bytes(data).hex()
        _save(st)

    def datetime(self, dt=None):
        st = state()
        if dt is None:
            return tuple(st.get("rtc", RTC_START))
        if len(dt) != 8:
            raise ValueError("datetime needs 8 items")
        st["rtc"] = list(dt)
        _save(st)


class WDT:
    # Cannot be stopped or reconfigured once started: there is no deinit(), and it survives a soft
    # reset. A feed later than `timeout` ms after the last one means the chip was already reset.
    def __init__(self, id=0, timeout=5000):
        st = state()
        st["wdt_starts"] = st.get("wdt_starts", 0) + 1
        _save(st)
        self.timeout = timeout
        self.last = time.ticks_ms()

    def feed(self):
        if time.ticks_diff(time.ticks_ms(), self.last) > self.timeout:
            _reset(WDT_RESET)
        self.last = time.ticks_ms()


class ADC:
    ATTN_0DB = 0
    ATTN_2_5DB = 1
    ATTN_6DB = 2
    ATTN_11DB = 3
    ADC2 = (0, 2, 4, 12, 13, 14, 15, 25, 26, 27)

    def __init__(self, pin, atten=None):
        self.pin = pin.id if isinstance(pin, Pin) else pin
        self.att = self.ATTN_0DB if atten is None else atten

    def atten(self, a):
        if a not in (0, 1, 2, 3):
            raise ValueError("invalid attenuation")
        self.att = a

    def read_uv(self):
        import network

        if self.pin in self.ADC2 and network.WLAN(network.STA_IF).active():
            raise OSError(263)  # ESP_ERR_TIMEOUT: the radio owns ADC2
        return 1650000


class I2C:
    def __new__(cls, id, scl=None, sda=None, freq=400000):
        from hal.fakes import FakeI2C

        return FakeI2C("esp32")
