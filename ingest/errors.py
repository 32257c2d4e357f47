"""The exceptions sensorfleet raises, in one tree:

SensorfleetError
├── ConfigError            settings, a config file, device tags or an alert rule that cannot be used
│   └── NameTakenError         a name (an alert rule's) that is already in use
├── PayloadError           a message that can never be stored (dead-lettered, never retried)
├── StoreError             the time-series store failed
│   ├── TransientStoreError    may succeed later (5xx, 429, 401/403/404, timeouts, refused): retry, spool
│   ├── PermanentStoreError    will never succeed as sent (4xx other than 413/429)
│   └── RequestTooLargeError   413: split the batch and send the halves
├── QueryError             a query the stores will not run (unknown metric or aggregate, bad range)
├── SpoolFullError         the on-disk spool is at its limit: stop acknowledging
└── DeviceError            talking to a board (provisioning, deploy, virtual boards) failed

The state database's own errors stay SQLAlchemy's (`StateDatabaseError`). `is_outage` tells an outage
(the store or the disk unavailable: retry later) from an error that one message caused (isolate it),
whatever type either one has.
"""

from __future__ import annotations

import sqlite3

import sqlalchemy.exc
from sqlalchemy.exc import DBAPIError

StateDatabaseError = DBAPIError
"""What the state database (SQLAlchemy, SQLite or PostgreSQL) raises."""

_SQLITE_OUTAGES = ("locked", "busy", "disk", "full", "unable to open", "readonly", "i/o")


class SensorfleetError(Exception):
    """Base of every error sensorfleet raises on purpose."""


class ConfigError(SensorfleetError):
    pass


class NameTakenError(ConfigError):
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


class FirmwareError(SensorfleetError):
    """A firmware bundle or a rollout that cannot be built, stored or started as asked."""


class DeviceError(SensorfleetError):
    pass


def is_outage(e: BaseException) -> bool:
    """True for errors of the store or the disk, which no message caused and a retry may cure:
    TransientStoreError, a full spool, OSError (ENOSPC, EIO…), SQLite's locked/busy/disk/full/I/O
    errors and a state database that cannot be reached. Everything else (a value SQLite or InfluxDB
    refuses, an overflow, a bug reached by one message's content) is the message's."""
    if isinstance(e, TransientStoreError | SpoolFullError | OSError | MemoryError):
        return True
    cause: BaseException | None = e
    if isinstance(e, DBAPIError):  # the state database, through SQLAlchemy
        if e.connection_invalidated:
            return True
        if isinstance(e, sqlalchemy.exc.OperationalError) and not isinstance(e.orig, sqlite3.Error):
            return True  # PostgreSQL: the server is unreachable, restarting or refusing connections
        cause = e.orig
    if isinstance(cause, sqlite3.OperationalError):
        text = str(cause).lower()
        return any(word in text for word in _SQLITE_OUTAGES)
    return False
