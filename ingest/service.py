"""The ingest service: builds intake, router, writer, store, spool, registry and dead letters from Settings.

`IngestService` owns them and exposes what the HTTP layer (`ingest.app.build_app`) serves: `store`,
`registry`, `dead_letters`, `replayer`, `metrics`, `health()`, `publish` and the pipeline's
`listeners`. It knows nothing of HTTP.
"""

from __future__ import annotations

import functools
import gc
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from ingest.alerts.engine import AlertEngine, Facts, IngestFacts
from ingest.alerts.manage import AlertDesk
from ingest.alerts.notify import Notifier
from ingest.alerts.store import AlertStore
from ingest.alerts.webhook import Webhooks
from ingest.codec.lineprotocol import TagsFor, no_tags
from ingest.codec.payload import Limits
from ingest.contract import alerts_topic
from ingest.deadletters import DeadLetters
from ingest.errors import StoreError
from ingest.files import private_dir, read_secret
from ingest.health import Health
from ingest.intake.mqtt import IntakeConfig, MqttIntake
from ingest.metrics import Metrics
from ingest.ota.engine import RolloutEngine
from ingest.ota.manage import FirmwareDesk
from ingest.ota.rollouts import seen_boards
from ingest.ota.server import ChunkServer
from ingest.ota.store import FirmwareStore, RolloutStore
from ingest.pipeline.replay import Replayer
from ingest.pipeline.router import Router
from ingest.pipeline.work import ChunkRequest, Message, Readings, Work
from ingest.pipeline.writer import Writer, WriterConfig
from ingest.registry import Registry
from ingest.settings import Settings
from ingest.state.migrate import open_state
from ingest.storage.base import Store
from ingest.storage.influx import InfluxStore
from ingest.storage.influx_http import InfluxHttp
from ingest.storage.spool import Spool
from ingest.storage.sqlite import SqliteStore

if TYPE_CHECKING:
    from ingest.intake.broker import EmbeddedBroker

log = logging.getLogger(__name__)


def build_store(settings: Settings, tags_for: TagsFor = no_tags) -> Store:
    """The store the settings name; InfluxDB points get each device's tags from `tags_for`."""
    if settings.influx_url is None:
        return SqliteStore(settings.data_dir / "telemetry.sqlite")
    http = InfluxHttp(
        settings.influx_url,
        settings.influx_db,
        settings.influx_api,
        settings.influx_token,
        settings.influx_org,
        settings.write_timeout_s,
    )
    return InfluxStore(http, settings.measurement, tags_for)


def limits_of(settings: Settings) -> Limits:
    s = settings
    return Limits(s.max_payload_bytes, s.max_past_s * 1000, s.max_future_s * 1000, s.max_metrics_per_reading)


def build_replayer(
    settings: Settings, registry: Registry, store: Store, dead_letters: DeadLetters, metrics: Metrics
) -> Replayer:
    """Replays dead letters through a router like the live one (the settings' limits and prefix, the
    same registry), whose own metrics leave the count of MQTT messages received alone."""
    router = Router(settings.topic_prefix, limits_of(settings), registry, Metrics())
    return Replayer(router, store, registry, dead_letters, metrics)


@contextmanager
def offline_replayer(settings: Settings) -> Iterator[Replayer]:
    """A replayer over the state and time-series stores the settings name, for a process that runs no
    intake (`sensorfleet deadletters replay`); both are closed when the block ends."""
    state = open_state(settings.data_dir, settings.database_url)
    try:
        registry = Registry(
            state, strict=settings.strict_devices, max_metrics=settings.max_metrics_per_device
        )
        store = build_store(settings, registry.tags_for)
        try:
            dead_letters = DeadLetters(state, kept=settings.dead_letters_kept)
            yield build_replayer(settings, registry, store, dead_letters, Metrics())
        finally:
            store.close()
    finally:
        state.close()


def embedded_broker(port: int) -> EmbeddedBroker:
    """Imported here: amqtt's modules (megabytes) are loaded only by a service that runs the broker."""
    from ingest.intake.broker import EmbeddedBroker

    return EmbeddedBroker(port=port)


YOUNG_OBJECTS_COLLECTED = 50_000
"""Container objects allocated (and not yet freed) that start a collection of the youngest generation;
Python's default is 700."""


def freeze_startup_heap() -> None:
    """For a process that runs a service until it stops: what start-up built (modules, the app, the
    schemas) lives as long as the process, so it is moved out of the garbage collector's sight. A full
    collection then takes microseconds instead of stalling every thread (readings waiting) for tens of
    milliseconds.

    Then collections start after `YOUNG_OBJECTS_COLLECTED` objects instead of 700. A message's dicts
    and tuples live until the writer has stored it, behind up to `max_queued` others: at 700 the
    collector went through each of them several times (every few messages, and again in the older
    generations) and found nothing to free, as reference counting frees them. That was about a tenth
    of the CPU a busy intake spent."""
    gc.freeze()
    gc.set_threshold(YOUNG_OBJECTS_COLLECTED)


class IngestService:
    def __init__(self, settings: Settings, store: Store | None = None, registry: Registry | None = None):
        """`store` and `registry`, when given, are used instead of those the settings name."""
        self.settings = s = settings
        private_dir(s.data_dir)
        # First: a state database that cannot be used stops the start before anything else is opened.
        self.state = open_state(s.data_dir, s.database_url)
        self.metrics = Metrics()
        self.registry = registry or Registry(
            self.state, strict=s.strict_devices, max_metrics=s.max_metrics_per_device
        )
        self.store = store or build_store(s, self.registry.tags_for)
        self._name_metrics_once()
        self.dead_letters = DeadLetters(self.state, kept=s.dead_letters_kept)
        self.spool = Spool(s.spool_dir or s.data_dir / "spool", s.spool_max_bytes)
        self.writer = Writer(
            self.store,
            self.spool,
            self.dead_letters,
            self.registry,
            self.metrics,
            WriterConfig(
                batch_points=s.batch_points,
                batch_messages=s.batch_messages,
                flush_interval_s=s.flush_interval_ms / 1000,
                linger_s=s.linger_ms / 1000,
                write_attempts=s.write_attempts,
                hold_max_s=s.hold_max_s,
            ),
        )
        self.router = Router(s.topic_prefix, limits_of(s), self.registry, self.metrics)
        self.replayer = build_replayer(s, self.registry, self.store, self.dead_letters, self.metrics)
        self.listeners: list[Callable[[Work], None]] = []
        """Called with each routed message (e.g. the API's live event stream), after the writer has it."""
        self.broker = embedded_broker(s.embedded_broker_port) if s.mqtt_url is None else None
        self.intake = MqttIntake(
            IntakeConfig(
                url=s.mqtt_url or f"mqtt://127.0.0.1:{s.embedded_broker_port}",
                client_id=s.client_id,
                prefix=s.topic_prefix,
                share_group=s.share_group,
                protocol="5" if s.mqtt_url else "3.1.1",  # amqtt speaks MQTT 3.1.1 only
                session_expiry_s=s.mqtt_session_expiry_s,
                receive_maximum=s.mqtt_receive_maximum,
                keepalive_s=s.mqtt_keepalive_s,
                password=read_secret(s.mqtt_password_file) if s.mqtt_password_file else None,
            ),
            self._received,
        )
        self._build_alerts()
        self._build_ota()
        m = self.metrics
        m.gauge("spool_bytes", "bytes in the spool waiting for the store", lambda: self.spool.depth_bytes())
        m.gauge("spool_batches", "batches in the spool waiting for the store", lambda: self.spool.batches)
        m.gauge(
            "spool_corrupt_records",
            "damaged spool records set aside (under spool/corrupt/) since the process started",
            lambda: self.spool.corrupt_records,
        )
        m.gauge(
            "spool_full",
            "1 while the spool is full and messages are not acknowledged",
            lambda: self.writer.spool_full,
        )
        m.gauge(
            "broker_connected", "1 while connected to the MQTT broker", lambda: self.intake.connected.is_set()
        )
        m.gauge("store_ok", "1 while the last write to the store succeeded", lambda: self.writer.store_ok)
        m.gauge("state_ok", "1 while the state database answers", lambda: self.state.ping())
        m.gauge("writer_pending", "messages waiting for the writer", lambda: self.writer.pending())
        m.gauge(
            "writer_held_seconds",
            "how long a batch has waited unacknowledged for the store or the disk",
            lambda: self.writer.held_for(),
        )

    def _build_alerts(self) -> None:
        """Rules evaluated in this process, the notifier of every process's transitions, and the desk
        the API manages rules through; all on the state store."""
        s = self.settings
        self.alert_store = AlertStore(self.state)
        external_url = s.external_url or f"http://{s.http_host}:{s.http_port}"
        self.notifier = Notifier(
            self.alert_store, Webhooks(s.webhook_timeout_s), self._publish_alert, self.metrics
        )
        self.alerts = AlertEngine(
            self.alert_store,
            Facts(self.registry.tags_for, self.registry.devices, self._ingest_facts, f"ingest:{s.client_id}"),
            self.metrics,
            external_url,
            tick_s=s.alert_tick_s,
            scan_s=s.alert_scan_s,
            wake=self.notifier.wake,
        )
        self.registry.status_listeners.append(
            lambda device, status, change: self.alerts.status(device, status)
        )
        self.metrics.gauge(
            "alert_notifications_waiting",
            "alert notifications not delivered yet (every process's), retried with backoff",
            lambda: self.alert_store.undelivered_counts()[0],
        )
        self.metrics.gauge(
            "alert_notifications_given_up",
            "alert notifications given up after their last attempt (every process's)",
            lambda: self.alert_store.undelivered_counts()[1],
        )
        self.alert_desk = AlertDesk(
            self.alert_store,
            self.registry.metric_in_use,
            Webhooks(s.webhook_timeout_s),
            external_url,
            on_change=self.alerts.rules_changed,
        )

    def _build_ota(self) -> None:
        """Firmware bundles and rollouts on the state store; the chunk server answers this process's
        share of the boards' requests, the engine moves the rollouts on."""
        s = self.settings
        self.firmware = FirmwareStore(self.state)
        self.rollouts = RolloutStore(self.state)
        self.chunks = ChunkServer(
            self.firmware, self.rollouts, self.intake.publish, self.metrics, s.topic_prefix
        )
        self.rollout_engine = RolloutEngine(
            self.rollouts,
            self.firmware,
            functools.partial(seen_boards, self.registry),
            self.registry.command_result,
            self.intake.publish,
            self.metrics,
            s.topic_prefix,
            tick_s=s.rollout_tick_s,
        )
        self.firmware_desk = FirmwareDesk(self.firmware, self.rollouts, self.registry)

    def _name_metrics_once(self) -> None:
        """A registry from before metric names were kept learns each device's from the store, so the
        newest values of a device that stays silent after the upgrade are still shown."""
        if not self.registry.needs_metric_names():
            return
        try:
            names = self.store.metric_names()
        except StoreError as e:  # the store is down: tried again at the next start
            log.warning("could not read the devices' metric names from the store: %s", e)
            return
        self.registry.seed_metric_names(names)
        log.info("learned the metric names of %d devices from the store", len(names))

    def _received(self, message: Message) -> None:
        work = self.router.route(message)
        if isinstance(work, ChunkRequest):
            self.chunks.submit(work.device, message.payload)
            message.ack()
            return
        self.writer.submit(work)
        if isinstance(work, Readings):
            self.alerts.readings(work.telemetry.device, work.telemetry.points)
        for listener in self.listeners:
            try:
                listener(work)
            except Exception:  # raised on paho's network thread, it would stop the intake
                log.exception("listener %r failed on a message from %s", listener, message.topic)

    def start(self) -> None:
        if self.broker is not None:
            self.broker.start()
        self.writer.start()
        self.intake.start()
        self.alerts.start()
        self.notifier.start()
        self.chunks.start()
        self.rollout_engine.start()
        log.info("ingest started: store %s, data dir %s", type(self.store).__name__, self.settings.data_dir)

    def stop(self) -> None:
        """Lets the writer store and acknowledge what it holds while still connected, then disconnects.

        Whatever arrives after the writer stopped stays unacknowledged: the broker delivers it again."""
        self.alerts.stop()
        self.rollout_engine.stop()
        self.writer.stop()
        self.notifier.stop()
        self.chunks.stop()
        self.intake.stop()
        if self.broker is not None:
            self.broker.stop()
        self.close()

    def close(self) -> None:
        """Releases the store, the state database and the HTTP clients: the end of `stop`, and all a
        service that was never started (a tool's, a test's) needs."""
        self.notifier.webhooks.close()
        self.alert_desk.webhooks.close()
        for closable in (self.store, self.state):
            closable.close()

    def health(self) -> Health:
        return Health(
            broker_connected=self.broker_connected(),
            store_ok=self.writer.store_ok and self.store.ping(),
            state_ok=self.state.ping(),
            spool_full=self.writer.spool_full,
            spool_batches=self.spool.batches,
            writer_held_s=round(self.writer.held_for(), 3),
            writer_held_too_long=self.writer.held_too_long(),
            hold_reason=self.writer.hold_reason,
        )

    def _ingest_facts(self) -> IngestFacts:
        return IngestFacts(
            spool_pct=100 * self.spool.depth_bytes() / self.settings.spool_max_bytes,
            writer_held_s=self.writer.held_for(),
            dead_letters=self.metrics.get("dead_letters"),
        )

    def _publish_alert(self, body: bytes) -> None:
        if not self.broker_connected():
            raise ConnectionError("not connected to the broker")
        self.intake.publish(alerts_topic(self.settings.topic_prefix), body)

    def broker_connected(self) -> bool:
        return self.intake.connected.is_set()

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> None:
        """Publishes through the intake's connection (commands to devices)."""
        self.intake.publish(topic, payload, qos)
