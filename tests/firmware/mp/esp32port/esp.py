# The ESP32 port's `esp` module since 1.20: dht_readinto moved to `machine`.


def flash_size():
    return 4 * 1024 * 1024
