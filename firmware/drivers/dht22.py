# DHT22 / AM2302 (temperature, humidity): decoding and checksum of its 5 bytes. The pulse timing
# is the bus's job: it is passed in as readinto(buf) (esp.dht_readinto on the board).


def decode(b):
    # -> (degC, %RH); ValueError on a checksum mismatch.
    if (b[0] + b[1] + b[2] + b[3]) & 0xFF != b[4]:
        raise ValueError("DHT22 checksum mismatch")
    h = (b[0] << 8 | b[1]) / 10
    t = ((b[2] & 0x7F) << 8 | b[3]) / 10
    if b[2] & 0x80:
        t = -t
    return t, h


class DHT22:
    def __init__(self, readinto):
        self.readinto = readinto
        self.buf = bytearray(5)

    def start(self):
        return 0

    def result(self):
        self.readinto(self.buf)
        t, h = decode(self.buf)
        return {"temperature": t, "humidity": h}
