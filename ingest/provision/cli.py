"""`sensorfleet device ...`: provisioning, static tags, deploy and flash over USB, and virtual boards.

Tags live in the ingest's registry (in the state database), not the inventory of provisioned boards:
the running service reads them from there onto every point it stores.
"""

from __future__ import annotations

import functools
import json
import logging
import signal
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer

from ingest.cli_options import DataDir, cli_errors
from ingest.contract import device_topic
from ingest.errors import ConfigError, DeviceError
from ingest.provision.birth import BirthWatch
from ingest.provision.board import Board
from ingest.provision.boardconfig import BoardSettings, load_template, parse_sensor, redact, to_json
from ingest.provision.broker_files import write_broker_files
from ingest.provision.deploy import build_files, deploy, enter_maintenance
from ingest.provision.firmware_tree import firmware_root, profile_of, read_tree
from ingest.provision.flash import flash_image
from ingest.provision.ids import INGEST_USERNAME
from ingest.provision.inventory import Inventory
from ingest.provision.provisioning import add_device, remove_device
from ingest.provision.virtual import VirtualFleet, build_fleet
from ingest.registry import Registry
from ingest.registry.tags import parse_assignment
from ingest.settings import Settings, load_settings
from ingest.state.migrate import open_state

log = logging.getLogger(__name__)

device_app = typer.Typer(no_args_is_help=True, help="Provision, deploy, flash and simulate boards.")

P = ParamSpec("P")
R = TypeVar("R")

Prefix = Annotated[
    str | None,
    typer.Option("--topic-prefix", help="MQTT topic prefix (env SENSORFLEET_TOPIC_PREFIX, default sf)"),
]
Firmware = Annotated[
    Path | None, typer.Option("--firmware", help="Firmware tree to use instead of the installed one")
]

_SIMULATE_POLL_S = 0.5
_MAINTENANCE_BOOT_S = 30
"""How long a board reset into maintenance may take to reach its REPL again."""


def _board_errors(command: Callable[P, R]) -> Callable[P, R]:
    """The CLI's error convention, with progress lines on stderr while talking to boards."""

    @cli_errors
    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        if not logging.getLogger().handlers:
            logging.basicConfig(level=logging.INFO, format="%(message)s")
            logging.getLogger("ingest.state").setLevel(logging.WARNING)  # the board's progress only
        return command(*args, **kwargs)

    return run


def _settings(data_dir: Path | None, prefix: str | None = None) -> Settings:
    return load_settings(data_dir=data_dir, topic_prefix=prefix)


def _inventory(settings: Settings) -> Inventory:
    return Inventory(open_state(settings.data_dir, settings.database_url))


@contextmanager
def _ingest_registry(settings: Settings) -> Iterator[Registry]:
    state = open_state(settings.data_dir, settings.database_url)
    try:
        yield Registry(state)
    finally:
        state.close()


def _parse_tags(assignments: list[str]) -> dict[str, str]:
    tags: dict[str, str] = {}
    for text in assignments:
        key, value = parse_assignment(text)
        if tags.get(key, value) != value:
            raise ConfigError(f"tag {key!r} is given twice, as {tags[key]!r} and {value!r}")
        tags[key] = value
    return tags


def _show_tags(tags: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(tags.items()))


@device_app.command()
@_board_errors
def add(
    device_id: Annotated[
        str, typer.Argument(metavar="ID", help="lower-case letters, digits, _ and -; at most 63 characters")
    ],
    site: Annotated[
        str | None, typer.Option(help="Site tag, e.g. greenhouse-2 (also in the board config)")
    ] = None,
    tag: Annotated[
        list[str] | None, typer.Option(help="key=value stored on each of its points; repeat for more")
    ] = None,
    sensor: Annotated[
        list[str] | None,
        typer.Option(help="TYPE[:key=value,...] or a JSON object; repeat for more (default: one sim sensor)"),
    ] = None,
    interval: Annotated[float | None, typer.Option(help="Seconds between samples")] = None,
    batch_max: Annotated[int | None, typer.Option(help="Readings per MQTT message at most")] = None,
    wifi_ssid: Annotated[str | None, typer.Option()] = None,
    wifi_password: Annotated[str | None, typer.Option()] = None,
    broker_host: Annotated[str | None, typer.Option(help="Broker address as the board sees it")] = None,
    broker_port: Annotated[int | None, typer.Option()] = None,
    template: Annotated[
        Path | None, typer.Option(help="config.json template (JSON); flags win over it")
    ] = None,
    topic_prefix: Prefix = None,
    data_dir: DataDir = None,
) -> None:
    """Register a device: broker login and ACL, its board config and its tags."""
    settings = _settings(data_dir, topic_prefix)
    tags = _parse_tags([*(tag or []), *([f"site={site}"] if site else [])])
    board = BoardSettings(
        device_id=device_id,
        prefix=settings.topic_prefix,
        broker_host=broker_host,
        broker_port=broker_port,
        wifi_ssid=wifi_ssid,
        wifi_password=wifi_password,
        interval_s=interval,
        batch_max=batch_max,
        sensors=tuple(parse_sensor(s) for s in sensor or []),
        extra={"site": site} if site else {},
    )
    device, files = add_device(
        _inventory(settings), settings.data_dir, board, load_template(template) if template else None
    )
    if tags:
        with _ingest_registry(settings) as registry:
            registry.update_tags(device.id, tags, replace=True)
    typer.echo(f"added {device.id}" + (f" with tags {_show_tags(tags)}" if tags else ""))
    typer.echo(f"broker password file: {files.passwd}")
    typer.echo(f"broker ACL:           {files.acl}")
    typer.echo("reload the broker to apply them (Mosquitto: SIGHUP); deploy with `sensorfleet device deploy`")


@device_app.command()
@_board_errors
def remove(device_id: Annotated[str, typer.Argument(metavar="ID")], data_dir: DataDir = None) -> None:
    """Forget a device and its tags, and revoke its broker login."""
    settings = _settings(data_dir)
    remove_device(_inventory(settings), settings.data_dir, device_id, settings.topic_prefix)
    with _ingest_registry(settings) as registry:
        registry.update_tags(device_id, replace=True)
    typer.echo(f"removed {device_id}; reload the broker to revoke its login")


@device_app.command("tag")
@_board_errors
def tag_device(
    device_id: Annotated[str, typer.Argument(metavar="ID")],
    assignments: Annotated[
        list[str] | None, typer.Argument(metavar="KEY=VALUE", help="Tags to set, e.g. site=greenhouse-2")
    ] = None,
    remove: Annotated[list[str] | None, typer.Option(help="Tag key to remove; repeat for more")] = None,
    replace: Annotated[bool, typer.Option("--replace", help="Drop the tags not given")] = False,
    data_dir: DataDir = None,
) -> None:
    """Set or remove a device's tags (stored on each of its points from then on); print them."""
    tags = _parse_tags(assignments or [])
    with _ingest_registry(_settings(data_dir)) as registry:
        now = registry.update_tags(device_id, tags, remove or [], replace)
    typer.echo(f"{device_id}: {_show_tags(now) or 'no tags'}")


@device_app.command("ingest-url")
@_board_errors
def ingest_url(
    broker_host: Annotated[str, typer.Option(help="Broker address as the ingest reaches it")] = "127.0.0.1",
    broker_port: Annotated[int, typer.Option()] = 1883,
    data_dir: DataDir = None,
) -> None:
    """Print the ingest's broker URL (SENSORFLEET_MQTT_URL) with the login the password file holds."""
    settings = _settings(data_dir)
    inventory = _inventory(settings)
    login = inventory.login(INGEST_USERNAME)
    # The login is created on first use; the broker must hear of it too.
    write_broker_files(inventory, settings.data_dir, settings.topic_prefix)
    typer.echo(f"mqtt://{login.username}:{login.password}@{broker_host}:{broker_port}")


@device_app.command()
@_board_errors
def config(
    device_id: Annotated[str, typer.Argument(metavar="ID")],
    show_secrets: Annotated[bool, typer.Option(help="Include the Wi-Fi and broker passwords")] = False,
    data_dir: DataDir = None,
) -> None:
    """Print the device's config.json (secrets masked unless --show-secrets)."""
    device = _inventory(_settings(data_dir)).get(device_id)
    typer.echo(to_json(device.config if show_secrets else redact(device.config)), nl=False)


@device_app.command("list")
@_board_errors
def list_devices(data_dir: DataDir = None) -> None:
    """List provisioned devices and their tags."""
    settings = _settings(data_dir)
    devices = _inventory(settings).all()
    if not devices:
        typer.echo("no devices provisioned (see `sensorfleet device add`)")
        return
    with _ingest_registry(settings) as registry:
        tags = {d.id: _show_tags(registry.tags_for(d.id)) for d in devices}
    rows = [("ID", "TAGS", "BROKER", "INTERVAL", "SENSORS", "ADDED")]
    for d in devices:
        mqtt = d.config["mqtt"]
        rows.append(
            (
                d.id,
                tags[d.id],
                f"{mqtt['host']}:{mqtt['port']}",
                f"{d.config['interval_s']}s",
                ",".join(str(s.get("type")) for s in d.config["sensors"]),
                datetime.fromtimestamp(d.created_at, UTC).strftime("%Y-%m-%d %H:%M"),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        typer.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


@device_app.command("deploy")
@_board_errors
def deploy_command(
    device_id: Annotated[str, typer.Argument(metavar="ID")],
    port: Annotated[str, typer.Option(help="/dev/ttyUSB0, COM3 or socket://127.0.0.1:PORT")],
    compile_mpy: Annotated[
        bool,
        typer.Option(
            "--compile/--source",
            help="Modules as .mpy bytecode (mpy-cross), or as source: the board then compiles them at "
            "boot and has too little heap left to take an update over the air",
        ),
    ] = True,
    reset: Annotated[bool, typer.Option(help="Reset the board after the copy")] = True,
    wait: Annotated[
        bool, typer.Option(help="Wait for the board's birth message when the broker is reachable")
    ] = True,
    birth_timeout: Annotated[float, typer.Option(help="Seconds to wait for the birth message")] = 60.0,
    broker_host: Annotated[
        str | None, typer.Option(help="Broker address as this computer sees it [default: the board's]")
    ] = None,
    broker_port: Annotated[int | None, typer.Option()] = None,
    firmware: Firmware = None,
    data_dir: DataDir = None,
) -> None:
    """Copy the firmware and the device's config to a board, verify by sha256, swap in, reset."""
    settings = _settings(data_dir)
    inventory = _inventory(settings)
    device = inventory.get(device_id)
    root = firmware_root(firmware)
    watch = None
    with Board(port) as board:
        profile = profile_of(board.info().platform)
        interrupted = enter_maintenance(board)
        if interrupted:
            typer.echo("the firmware was running (and maybe its watchdog): resetting into maintenance first")
            board.reset()
    files = build_files(read_tree(root, profile), device.config, compile_mpy)
    with Board(port, connect_timeout=_MAINTENANCE_BOOT_S if interrupted else 10) as board:
        result = deploy(board, files, compiled=compile_mpy, on_file=lambda p: log.debug("copied %s", p))
        typer.echo(
            f"deployed {len(result.files)} files ({result.bytes_written} bytes) to {device_id} on {port}, "
            f"MicroPython {result.board.version_text()}; sha256 verified on the board"
        )
        if reset and wait:
            watch = _birth_watch(inventory, device.config, broker_host, broker_port)
        if reset:
            board.reset()
    if watch is not None:
        birth = watch.wait(birth_timeout)
        typer.echo(f"{device_id} is online: {json.dumps(birth, sort_keys=True)}")


def _birth_watch(
    inventory: Inventory, config: dict[str, Any], host: str | None, port: int | None
) -> BirthWatch | None:
    mqtt = config["mqtt"]
    ingest = inventory.login(INGEST_USERNAME)
    topic = device_topic(mqtt["prefix"], config["device_id"], "status")
    watch = BirthWatch(host or mqtt["host"], port or mqtt["port"], topic, ingest.username, ingest.password)
    return watch if watch.start() else None


@device_app.command()
@_board_errors
def flash(
    port: Annotated[str, typer.Option(help="Serial port of the ESP board, e.g. /dev/ttyUSB0")],
    image: Annotated[Path, typer.Option(help="MicroPython firmware image (.bin) for the chip")],
    baud: Annotated[int, typer.Option(help="Baud rate while writing")] = 460800,
    erase: Annotated[bool, typer.Option(help="Erase the whole flash first")] = True,
    verbose: Annotated[bool, typer.Option(help="Show esptool's progress")] = False,
) -> None:
    """Write a MicroPython image with esptool (chip detected, flash erased, image written)."""
    result = flash_image(port, image, baud=baud, erase=erase, verbose=verbose)
    typer.echo(f"wrote {image} ({result.size} bytes) to the {result.chip} on {port} at 0x{result.offset:x}")


@device_app.command()
@_board_errors
def simulate(
    count: Annotated[int, typer.Argument(metavar="N", help="How many virtual boards")],
    mqtt_host: Annotated[str, typer.Option(help="Broker the boards connect to")] = "127.0.0.1",
    mqtt_port: Annotated[int, typer.Option()] = 1883,
    interval: Annotated[float, typer.Option(help="Seconds between samples")] = 2.0,
    duration: Annotated[
        float | None, typer.Option(help="Stop after this many seconds [default: Ctrl-C]")
    ] = None,
    topic_prefix: Prefix = None,
    firmware: Firmware = None,
    data_dir: DataDir = None,
    flash: Annotated[
        str,
        typer.Option(
            help="Each board's flash: dir (a host directory) or littlefs (an image with 4 KiB blocks, "
            "as on an ESP32; its console's stats count block erases and bytes programmed)"
        ),
    ] = "dir",
) -> None:
    """Run N virtual boards (the real firmware on the MicroPython unix port) until Ctrl-C."""
    settings = _settings(data_dir, topic_prefix)
    inventory = _inventory(settings)
    # A board provisioned as sim-N logs in with its own password, so it also works on a locked broker.
    passwords = {d.id: str(d.config["mqtt"]["password"]) for d in inventory.all()}
    root = settings.data_dir / "virtual-boards"
    fleet = build_fleet(
        root, count, mqtt_host, mqtt_port, settings.topic_prefix, interval, passwords, firmware, flash
    )
    deadline = None if duration is None else time.monotonic() + duration
    # `kill` (SIGTERM) must stop the boards as Ctrl-C does, instead of orphaning them.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        _run_fleet(fleet, count, root, mqtt_host, mqtt_port, deadline)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _run_fleet(
    fleet: VirtualFleet, count: int, root: Path, mqtt_host: str, mqtt_port: int, deadline: float | None
) -> None:
    with fleet:
        typer.echo(
            f"{count} virtual boards under {root} publishing to {mqtt_host}:{mqtt_port}; Ctrl-C stops them"
        )
        try:
            while deadline is None or time.monotonic() < deadline:
                for gone in fleet.exited():
                    raise DeviceError(
                        f"virtual board {gone.device_id} exited ({gone.board.exit_code()}); "
                        f"see {gone.board.console}"
                    )
                time.sleep(_SIMULATE_POLL_S)
        except KeyboardInterrupt:
            typer.echo("stopping the virtual boards")
