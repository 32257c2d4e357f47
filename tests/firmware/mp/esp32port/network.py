# The ESP32 port's `network` station interface, enough for hal/esp32.py: joins at once.
STA_IF = 0
AP_IF = 1
STAT_GOT_IP = 1010
_on = {}
_up = {}


class WLAN:
    def __init__(self, interface=STA_IF):
        self.i = interface

    def active(self, on=None):
        if on is None:
            return _on.get(self.i, False)
        _on[self.i] = bool(on)

    def connect(self, ssid=None, key=None):
        if not self.active():
            raise OSError("Wifi Not Started")
        _up[self.i] = True

    def disconnect(self):
        _up[self.i] = False

    def isconnected(self):
        return _up.get(self.i, False)

    def status(self, param=None):
        if param == "rssi":
            return -61
        return STAT_GOT_IP if self.isconnected() else 1000

    def ifconfig(self, cfg=None):
        return ("192.0.2.50", "255.255.255.0", "192.0.2.1", "192.0.2.1")
