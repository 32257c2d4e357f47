"""Writing a MicroPython image to an ESP chip: the only module that uses esptool.

MicroPython's ESP32-family images are merged (bootloader, partition table, app) and go at the chip's
bootloader offset (0x1000 on the ESP32, 0x0 on the S3/C3/C6, ...), which esptool knows per chip.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import serial
from esptool.cmds import attach_flash, detect_chip, erase_flash, reset_chip, run_stub, write_flash
from esptool.logger import log as esptool_log
from esptool.util import FatalError

from ingest.errors import DeviceError

log = logging.getLogger(__name__)

_CONNECT_ATTEMPTS = 3


@dataclass(frozen=True)
class FlashResult:
    chip: str
    offset: int
    size: int


def flash_image(
    port: str, image: Path, baud: int = 460800, erase: bool = True, verbose: bool = False
) -> FlashResult:
    """Detects the chip on `port`, erases its flash (unless `erase` is False) and writes `image`."""
    if not image.is_file():
        raise DeviceError(f"image {image} not found")
    esptool_log.set_verbosity("verbose" if verbose else "silent")
    try:
        with detect_chip(port, connect_attempts=_CONNECT_ATTEMPTS) as esp:
            chip = str(esp.CHIP_NAME)
            offset = int(esp.BOOTLOADER_FLASH_OFFSET)
            log.info("%s on %s: writing %s at 0x%x", chip, port, image, offset)
            esp = run_stub(esp)
            if baud != esp.ESP_ROM_BAUD:
                esp.change_baud(baud)
            attach_flash(esp)
            if erase:
                erase_flash(esp)
            write_flash(esp, [(offset, str(image))])
            reset_chip(esp, "hard-reset")
    except (FatalError, serial.SerialException, OSError) as e:
        raise DeviceError(f"cannot flash {port}: {_first_line(e)}") from e
    return FlashResult(chip, offset, image.stat().st_size)


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
