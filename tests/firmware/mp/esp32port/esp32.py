# The original ESP32's `esp32` module: only the raw internal sensor (degrees F).


def raw_temperature():
    return 113
