# Boot: pick the HAL for this port, run the firmware with ./config.json.
#   On the board: copied to the root of the filesystem with the rest of firmware/.
#   Virtual board: cd <dir> && micropython -X heapsize=128K main.py   (the dir is its flash)
import sys

if sys.platform == "esp32":
    from hal.esp32 import Hal
else:
    from hal.unix import Hal

from sensorfleet.app import main

sys.exit(main(Hal()) or 0)
