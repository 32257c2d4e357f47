# Freezes the firmware into a MicroPython image with MicroPython's own build (its manifest format,
# docs/reference/manifest.rst), for the ESP32 port:
#   cd micropython/ports/esp32
#   make BOARD=ESP32_GENERIC FROZEN_MANIFEST=/path/to/sensorfleet/firmware/manifest.py
# Frozen bytecode runs from flash: the modules then cost no heap for their code (a .mpy on the
# filesystem only skips the compiler; its bytecode is still loaded into the heap).
# main.py and config.json stay on the board's filesystem; files of the same name there would take
# precedence over the frozen ones (sys.path puts "" before ".frozen").
# What is frozen is the "esp32" profile of shipped.json but main.py, and no test fake: a test holds
# the two lists to each other (tests/firmware/test_fw_shipped.py).
include("$(PORT_DIR)/boards/manifest.py")
module("safeboot.py")
module("safeswap.py")
package(
    "sensorfleet",
    files=(
        "__init__.py",
        "app.py",
        "boot.py",
        "clock.py",
        "commands.py",
        "config.py",
        "mqtt.py",
        "mqttpkt.py",
        "ntp.py",
        "ota.py",
        "outbox.py",
        "payload.py",
        "publisher.py",
        "safemode.py",
        "sensors.py",
        "settable.py",
        "topics.py",
        "transport.py",
    ),
)
package("drivers")
package("hal", files=("__init__.py", "esp32.py"))
