"""Devices seen, their status and how complete their data is; `registry.py` says which concern is where."""

from ingest.registry.completeness import BootCompleteness
from ingest.registry.presence import DeviceInfo
from ingest.registry.registry import Registry
from ingest.registry.status_history import StatusChange

__all__ = ["BootCompleteness", "DeviceInfo", "Registry", "StatusChange"]
