"""The exceptions sensorfleet raises, in one tree:

SensorfleetError
├── ConfigError            settings, a config file or device tags that cannot be used
├── PayloadError           a message that can never be stored (dead-lettered, never retried)
├── StoreError             the time-series store failed
│   ├── TransientStoreError    may succeed later (5xx, 429, 401/403/404, timeouts, refused): retry, spool
│   ├── PermanentStoreError    will never succeed as sent (4xx other than 413/429)
│   └── RequestTooLargeError   413: split the batch and send the halves
├── QueryError             a query the stores will not run (unknown metric or aggregate, bad range)
├── SpoolFullError         the on-disk spool is at its limit: stop acknowledging
└── DeviceError            talking to a board (provisioning, deploy, virtual boards) failed
"""


class SensorfleetError(Exception):
    """Base of every error sensorfleet raises on purpose."""


class ConfigError(SensorfleetError):
    pass


class PayloadError(SensorfleetError):
    pass


class StoreError(SensorfleetError):
    pass


class TransientStoreError(StoreError):
    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class PermanentStoreError(StoreError):
    pass


class RequestTooLargeError(StoreError):
    pass


class QueryError(SensorfleetError):
    pass


class SpoolFullError(SensorfleetError):
    pass


class DeviceError(SensorfleetError):
    pass
