"""`sensorfleet alerts rule add|list|remove|test` and `sensorfleet alerts list`, on the state store the
running service uses (its processes pick a changed rule up within a tick)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from ingest.alerts.manage import AlertDesk
from ingest.alerts.rules import Rule
from ingest.alerts.store import AlertStore
from ingest.alerts.webhook import Webhooks
from ingest.cli_options import DatabaseUrl, DataDir, cli_errors
from ingest.durations import parse_duration
from ingest.errors import ConfigError
from ingest.registry import Registry
from ingest.settings import load_settings
from ingest.state.migrate import open_state

alerts_app = typer.Typer(no_args_is_help=True, help="Alert rules, and the alerts they raised.")
rule_app = typer.Typer(no_args_is_help=True, help="Add, list, remove and test alert rules.")
alerts_app.add_typer(rule_app, name="rule")


@contextmanager
def _desk(data_dir: Path | None, database_url: str | None) -> Iterator[AlertDesk]:
    settings = load_settings(data_dir=data_dir, database_url=database_url)
    state = open_state(settings.data_dir, settings.database_url)
    webhooks = Webhooks(settings.webhook_timeout_s)
    external = settings.external_url or f"http://{settings.http_host}:{settings.http_port}"
    try:
        yield AlertDesk(AlertStore(state), Registry(state).metric_in_use, webhooks, external)
    finally:
        webhooks.close()
        state.close()


def _duration(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return parse_duration(text)
    except ValueError as e:
        raise ConfigError(str(e)) from None


def _condition(
    metric: str | None,
    above: float | None,
    below: float | None,
    hysteresis: float,
    rate_over: float | None,
    no_readings_for: str | None,
    missing_over: int | None,
    dropped: bool,
    outbox_growing: bool,
    offline: bool,
    spool_over: float | None,
    writer_held: bool,
    dead_letters_over: int | None,
) -> dict[str, Any]:
    chosen: list[dict[str, Any]] = []
    if above is not None or below is not None:
        chosen.append(
            {"kind": "threshold", "metric": metric, "above": above, "below": below, "hysteresis": hysteresis}
        )
    if rate_over is not None:
        chosen.append({"kind": "rate", "metric": metric, "per_s": rate_over})
    if no_readings_for is not None:
        chosen.append({"kind": "no_readings", "after_s": _duration(no_readings_for)})
    if missing_over is not None:
        chosen.append({"kind": "missing", "over": missing_over})
    if dropped or outbox_growing:
        chosen.append({"kind": "board_loss", "outbox_growing": outbox_growing and not dropped})
    if offline:
        chosen.append({"kind": "offline"})
    if spool_over is not None or writer_held or dead_letters_over is not None:
        chosen.append(
            {
                "kind": "ingest",
                "spool_over_pct": spool_over,
                "writer_held": writer_held,
                "dead_letters_over": dead_letters_over,
            }
        )
    if len(chosen) != 1:
        raise ConfigError(
            "give one condition: --above/--below, --rate-over, --no-readings-for, --missing-over, "
            "--dropped, --outbox-growing, --offline(-for), or the ingest's --spool-over, --writer-held "
            "or --dead-letters-over"
        )
    if chosen[0]["kind"] in ("threshold", "rate") and metric is None:
        raise ConfigError("--above, --below and --rate-over need --metric")
    return chosen[0]


def _problem(e: ValidationError) -> str:
    first = e.errors()[0]
    where = ".".join(str(p) for p in first["loc"] if not str(p).startswith(("function-", "tagged-")))
    return f"{where + ': ' if where else ''}{first['msg'].removeprefix('Value error, ')}"


@rule_app.command("add")
@cli_errors
def add(
    name: Annotated[str, typer.Argument(help="the rule's name (letters, digits, _ . -)")],
    device: Annotated[list[str] | None, typer.Option(help="a device id; repeat for more")] = None,
    tag: Annotated[str | None, typer.Option(help="the devices with this tag, as key=value")] = None,
    all_devices: Annotated[bool, typer.Option("--all", help="every device")] = False,
    metric: Annotated[str | None, typer.Option(help="the metric of --above, --below, --rate-over")] = None,
    above: Annotated[float | None, typer.Option(help="fire while the metric is above this")] = None,
    below: Annotated[float | None, typer.Option(help="fire while the metric is below this")] = None,
    hysteresis: Annotated[float, typer.Option(help="resolve only this far back past the limit")] = 0.0,
    rate_over: Annotated[
        float | None, typer.Option(help="fire when the metric changes faster (per s)")
    ] = None,
    no_readings_for: Annotated[
        str | None, typer.Option(help="fire after no readings for this long (5m)")
    ] = None,
    missing_over: Annotated[
        int | None, typer.Option(help="fire when more readings than this are missing")
    ] = None,
    dropped: Annotated[
        bool, typer.Option("--dropped", help="fire when the board reports dropped readings")
    ] = False,
    outbox_growing: Annotated[
        bool, typer.Option("--outbox-growing", help="fire while the board's outbox grows")
    ] = False,
    offline: Annotated[bool, typer.Option("--offline", help="fire while the device is offline")] = False,
    offline_for: Annotated[
        str | None, typer.Option(help="fire when offline this long (= --offline --for)")
    ] = None,
    spool_over: Annotated[
        float | None, typer.Option(help="ingest: fire when the spool is fuller (%)")
    ] = None,
    writer_held: Annotated[
        bool, typer.Option("--writer-held", help="ingest: fire while a batch is held")
    ] = False,
    dead_letters_over: Annotated[
        int | None, typer.Option(help="ingest: fire at more dead letters a minute")
    ] = None,
    for_: Annotated[
        str | None, typer.Option("--for", help="how long the condition must hold (3s, 5m)")
    ] = None,
    severity: Annotated[str, typer.Option(help="info, warning or critical")] = "warning",
    webhook: Annotated[
        list[str] | None, typer.Option(help="an http(s) URL to POST to; repeat for more")
    ] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Add an alert rule, e.g. `hot --device dev-1 --metric temperature --above 30 --for 3s --webhook URL`."""
    if offline_for is not None:
        if for_ is not None:
            raise ConfigError("--offline-for is --offline with --for: give one of them")
        offline, for_ = True, offline_for
    selector: dict[str, Any] = {"devices": device or [], "all": all_devices}
    if tag is not None:
        key, sep, value = tag.partition("=")
        if not sep:
            raise ConfigError("--tag is key=value")
        selector["tag"] = [key, value]
    condition = _condition(
        metric, above, below, hysteresis, rate_over, no_readings_for, missing_over,
        dropped, outbox_growing, offline, spool_over, writer_held, dead_letters_over,
    )  # fmt: skip
    try:
        rule = Rule.model_validate(
            {
                "name": name,
                "selector": selector,
                "condition": condition,
                "for_s": _duration(for_) or 0.0,
                "severity": severity,
                "webhooks": webhook or [],
            }
        )
    except ValidationError as e:
        raise ConfigError(_problem(e)) from None
    with _desk(data_dir, database_url) as desk:
        desk.add(rule)
    typer.echo(f"added rule {name}", err=True)


@rule_app.command("list")
@cli_errors
def list_rules(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """The rules, one JSON object a line."""
    with _desk(data_dir, database_url) as desk:
        for rule in desk.store.rules():
            typer.echo(rule.model_dump_json())


@rule_app.command("remove")
@cli_errors
def remove(
    name: Annotated[str, typer.Argument(help="the rule's name")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Remove a rule; its pending and firing alerts end without a notification."""
    with _desk(data_dir, database_url) as desk:
        if not desk.remove(name):
            raise ConfigError(f"no rule named {name!r}")
    typer.echo(f"removed rule {name}", err=True)


@rule_app.command("test")
@cli_errors
def test(
    name: Annotated[str, typer.Argument(help="the rule's name")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Send a test notification (device `test`) to the rule's webhooks now; exit 1 if one failed."""
    with _desk(data_dir, database_url) as desk:
        rule = desk.rule(name)
        if rule is None:
            raise ConfigError(f"no rule named {name!r}")
        if not rule.webhooks:
            raise ConfigError(f"rule {name!r} has no webhooks (its transitions go to MQTT only)")
        results = desk.try_webhooks(rule)
    for url, error in results.items():
        typer.echo(f"{url}\t{error or 'ok'}")
    if any(results.values()):
        raise typer.Exit(1)


def _when(ms: int | None) -> str:
    return "-" if ms is None else datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")


@alerts_app.command("list")
@cli_errors
def list_alerts(
    active: Annotated[bool, typer.Option("--active", help="only pending and firing alerts")] = False,
    device: Annotated[str | None, typer.Option(help="only this device's")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Alerts, newest first: id, rule, device, state, started, fired, resolved, value."""
    with _desk(data_dir, database_url) as desk:
        found = desk.store.active() if active else desk.store.history(device, limit=limit)
    for a in sorted(found, key=lambda a: -a.id)[:limit]:
        if device is None or a.device == device:
            row = (
                a.id,
                a.rule,
                a.device,
                a.state,
                _when(a.started_ms),
                _when(a.fired_ms),
                _when(a.resolved_ms),
            )
            typer.echo("\t".join(map(str, row)) + "\t" + json.dumps(a.value))
