# The MCU's internal temperature sensor; the HAL passes in the function that reads it (degC).


class Internal:
    def __init__(self, read):
        self.read = read

    def start(self):
        return 0

    def result(self):
        return {"mcu_temperature": round(self.read(), 1)}
