# Boot: the guard (safeboot.py) picks the HAL for this port and runs the firmware with ./config.json.
#   On the board: copied to the root of the filesystem with the rest of firmware/.
#   Virtual board: cd <dir> && micropython -X heapsize=128K main.py   (the dir is its flash)
import safeboot

safeboot.run()
