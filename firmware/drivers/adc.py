# An analog input as a metric: value = volts * scale + offset (volts from read_uv() when the port
# has it, else read_u16() scaled to 3.3 V). The ADC object is passed in.


class ADCSensor:
    def __init__(self, adc, metric="voltage", scale=1.0, offset=0.0):
        self.adc = adc
        self.metric = metric
        self.scale = scale
        self.offset = offset

    def start(self):
        return 0

    def volts(self):
        if hasattr(self.adc, "read_uv"):
            return self.adc.read_uv() / 1000000
        return self.adc.read_u16() * 3.3 / 65535

    def result(self):
        return {self.metric: round(self.volts() * self.scale + self.offset, 4)}
