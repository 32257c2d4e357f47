# Maxim DS18B20 temperature probes on one 1-Wire bus (a onewire.OneWire-like object passed in):
# every probe converts at once (skip ROM), then each scratchpad is read and CRC-checked.
from drivers.crc8 import maxim as crc8

CONVERT = 0x44
READ = 0xBE
SKIP_ROM = 0xCC


def decode(sp):
    # 9-byte scratchpad -> degC; ValueError on a CRC mismatch.
    if len(sp) != 9 or crc8(sp[:8]) != sp[8]:
        raise ValueError("DS18B20 scratchpad CRC mismatch")
    t = sp[1] << 8 | sp[0]
    if t & 0x8000:
        t -= 0x10000
    return t / 16


class DS18B20:
    def __init__(self, ow):
        self.ow = ow
        self.roms = [r for r in ow.scan() if r[0] == 0x28 and crc8(r) == 0]
        if not self.roms:
            raise OSError("no DS18B20 on the bus")

    def start(self):
        if not self.ow.reset():
            raise OSError("1-Wire: no presence pulse")
        self.ow.writebyte(SKIP_ROM)
        self.ow.writebyte(CONVERT)
        return 750  # 12-bit conversion

    def result(self):
        out = {}
        for i, rom in enumerate(self.roms):
            self.ow.reset()
            self.ow.select_rom(rom)
            self.ow.writebyte(READ)
            sp = bytearray(9)
            self.ow.readinto(sp)
            name = "temperature" if len(self.roms) == 1 else "temperature_%d" % (i + 1)
            out[name] = decode(sp)
        return out
