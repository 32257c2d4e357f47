# micropython-lib's onewire (frozen into the ESP32 port), backed by the simulated probes.


class OneWire:
    def __new__(cls, pin):
        from hal.fakes import FakeOneWire

        return FakeOneWire("esp32", 1)
