"""`sensorfleet demo`: the whole chain on one machine, with a live summary in the terminal.

Embedded broker and SQLite store unless URLs are given, virtual boards running the real firmware
on the MicroPython unix port, the API and the dashboard. One board drops off and comes back every
few minutes, so the dashboard shows its outbox replaying what it kept while it was away.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import typer
import uvicorn
from rich.console import Console
from rich.live import Live
from rich.table import Table

from ingest.api.tokens import Scope, TokenStore
from ingest.app import build_app
from ingest.cli_options import cli_errors, settings_flags
from ingest.errors import ConfigError
from ingest.files import private_dir
from ingest.provision.virtual import VirtualFleet, build_fleet
from ingest.service import IngestService
from ingest.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoOptions:
    boards: int = 5
    interval_s: float = 1.0
    flap_every_s: float = 180.0
    """How often the last board drops off (0: never)."""
    flap_off_s: float = 40.0
    """How long it stays away; its readings wait in its outbox meanwhile."""
    duration_s: float | None = None
    """Stop by itself after this long (None: until Ctrl-C)."""

    def __post_init__(self) -> None:
        if self.flap_every_s and self.flap_off_s >= self.flap_every_s:
            raise ConfigError("a board must be back before it drops off again: --flap-off < --flap-every")


@dataclass(frozen=True)
class Snapshot:
    at: float
    devices: int
    online: int
    readings: int
    written: int
    missing: int
    dead_letters: int


class Demo:
    def __init__(
        self,
        settings: Settings,
        options: DemoOptions,
        console: Console,
    ):
        self.settings = settings
        self.options = options
        self.console = console
        self.service = IngestService(settings)
        self.server = uvicorn.Server(
            uvicorn.Config(
                build_app(self.service),
                host=settings.http_host,
                port=settings.http_port,
                log_level="warning",
            )
        )
        self.fleet: VirtualFleet | None = None
        self.stopping = threading.Event()

    def board_broker(self) -> tuple[str, int]:
        if self.settings.mqtt_url is None:
            return "127.0.0.1", self.settings.embedded_broker_port
        url = urlsplit(self.settings.mqtt_url)
        return url.hostname or "127.0.0.1", url.port or 1883

    def start(self) -> None:
        self.service.start()
        threading.Thread(target=self.server.run, name="http", daemon=True).start()
        deadline = time.monotonic() + 15
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        host, port = self.board_broker()
        self.fleet = build_fleet(
            self.settings.data_dir / "boards",
            self.options.boards,
            host,
            port,
            self.settings.topic_prefix,
            self.options.interval_s,
        )
        self.fleet.start()
        tokens = TokenStore(self.service.state)
        read, _ = tokens.create(Scope.READ, name="demo dashboard")
        command, _ = tokens.create(Scope.COMMAND, name="demo dashboard with commands")
        base = f"http://{self.settings.http_host}:{self.settings.http_port}/"
        self.console.print(f"[bold]Dashboard:[/bold] {base}#token={read}", soft_wrap=True)
        self.console.print(f"[bold]With commands:[/bold] {base}#token={command}", soft_wrap=True)
        self.console.print(f"API: {base}openapi.json (read token; docs/api.md)    Ctrl-C stops the demo")

    def snapshot(self) -> Snapshot:
        devices = self.service.registry.devices()
        m = self.service.metrics
        return Snapshot(
            at=time.monotonic(),
            devices=len(devices),
            online=sum(1 for d in devices if d.online),
            readings=m.get("readings_received"),
            written=m.get("points_written"),
            missing=sum(d.missing for d in devices),
            dead_letters=m.get("dead_letters"),
        )

    def run(self) -> None:
        """Runs until Ctrl-C, SIGTERM (via `stop`) or the configured duration."""
        started = time.monotonic()
        last = self.snapshot()
        rate = 0.0
        with Live(self.summary(last, rate), console=self.console, auto_refresh=False) as live:
            while not self.stopping.wait(1.0):
                now = self.snapshot()
                rate = (now.readings - last.readings) / max(now.at - last.at, 1e-6)
                last = now
                self.flap(now.at - started)
                live.update(self.summary(now, rate), refresh=True)
                duration = self.options.duration_s
                if duration is not None and now.at - started >= duration:
                    break

    def flap(self, elapsed: float) -> None:
        """Takes the last board away for `flap_off_s` once every `flap_every_s`."""
        every = self.options.flap_every_s
        if self.fleet is None or every <= 0:
            return
        member = self.fleet.boards[-1]
        away = (elapsed % every) >= every - self.options.flap_off_s
        if away and member.board.running():
            log.info("demo: %s drops off for %.0f s", member.device_id, self.options.flap_off_s)
            member.board.stop()
        elif not away and not member.board.running():
            log.info("demo: %s is back", member.device_id)
            member.board.start()

    def summary(self, s: Snapshot, rate: float) -> Table:
        table = Table(title="sensorfleet demo", show_header=False, min_width=40)
        table.add_row("devices online", f"{s.online} / {s.devices}")
        table.add_row("readings / s", f"{rate:.1f}")
        table.add_row("readings received", str(s.readings))
        table.add_row("points written", str(s.written))
        table.add_row("readings missing", str(s.missing))
        table.add_row("dead letters", str(s.dead_letters))
        return table

    def stop(self) -> None:
        self.stopping.set()

    def close(self) -> None:
        if self.fleet is not None:
            self.fleet.stop()
        self.server.should_exit = True
        self.service.stop()


@cli_errors
@settings_flags(data_dir=Path("sensorfleet-demo"))
def demo(
    settings: Settings,
    boards: Annotated[int, typer.Option(min=1, max=50, help="virtual boards to run")] = 5,
    interval: Annotated[float, typer.Option(min=0.05, help="seconds between readings")] = 1.0,
    flap_every: Annotated[float, typer.Option(min=0, help="seconds between drop-offs (0: none)")] = 180.0,
    flap_off: Annotated[float, typer.Option(min=1, help="seconds a dropped board stays away")] = 40.0,
    duration: Annotated[float | None, typer.Option(min=1, help="stop after this many seconds")] = None,
) -> None:
    """Embedded broker and store, virtual boards, API and dashboard, all on this machine."""
    options = DemoOptions(boards, interval, flap_every, flap_off, duration)
    # The terminal shows the live summary; the log goes to a file beside the demo's data.
    private_dir(settings.data_dir)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        filename=str(settings.data_dir / "demo.log"),
    )
    for chatty in ("amqtt", "transitions"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    console = Console()
    session = Demo(settings, options, console)
    signal.signal(signal.SIGTERM, lambda *_: session.stop())
    session.start()
    try:
        session.run()
    except KeyboardInterrupt:
        pass
    finally:
        console.print("\nstopping: boards, then the service (buffered points are written first)")
        session.close()
