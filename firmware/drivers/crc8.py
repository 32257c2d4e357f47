# The two CRC-8s of our sensors (MSB-first, non-reflected polynomial for Sensirion; reflected for Maxim).


def sensirion(data, crc=0xFF):
    # Sensirion SHT3x: polynomial 0x31 (x^8+x^5+x^4+1), init 0xFF, no final XOR. 0xBEEF -> 0x92.
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = ((crc << 1) ^ 0x31) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def maxim(data, crc=0):
    # Maxim/Dallas 1-Wire: polynomial 0x31 reflected (0x8C), init 0. Over ROM or scratchpad incl.
    # its CRC byte the result is 0.
    for b in data:
        for _ in range(8):
            mix = (crc ^ b) & 1
            crc >>= 1
            if mix:
                crc ^= 0x8C
            b >>= 1
    return crc
