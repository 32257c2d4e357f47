"""Adding and removing devices: inventory row, broker password file and ACL change together."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from ingest.provision.boardconfig import BoardSettings, render_config
from ingest.provision.broker_files import BrokerFiles, write_broker_files
from ingest.provision.ids import validate_device_id
from ingest.provision.inventory import Inventory, ProvisionedDevice
from ingest.provision.passwd import generate_password, hash_password

log = logging.getLogger(__name__)


def add_device(
    inventory: Inventory,
    data_dir: Path,
    settings: BoardSettings,
    template: dict[str, Any] | None = None,
) -> tuple[ProvisionedDevice, BrokerFiles]:
    """Registers a device with a fresh broker password; `settings.mqtt_password` is replaced."""
    validate_device_id(settings.device_id)
    password = generate_password()
    config = render_config(replace(settings, mqtt_password=password), template)
    device = inventory.add(settings.device_id, config, hash_password(password))
    files = write_broker_files(inventory, data_dir, settings.prefix)
    log.debug("provisioned %s; broker files %s, %s", device.id, files.passwd, files.acl)
    return device, files


def remove_device(inventory: Inventory, data_dir: Path, device_id: str, prefix: str) -> BrokerFiles:
    """`data_dir`: where the broker's files are written."""
    inventory.remove(device_id)
    return write_broker_files(inventory, data_dir, prefix)
