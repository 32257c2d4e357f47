"""The embedded broker (amqtt, MQTT 3.1.1) used when no broker URL is configured: its own thread and loop."""

from __future__ import annotations

import asyncio
import logging
import threading

from amqtt.broker import Broker
from amqtt.contexts import BrokerConfig, ListenerConfig

from ingest.errors import ConfigError

log = logging.getLogger(__name__)


class EmbeddedBroker:
    def __init__(self, host: str = "127.0.0.1", port: int = 1883):
        self.host, self.port = host, port
        # The loop (an epoll and a socket pair) is made by `start`: a broker never started holds nothing.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._broker: Broker | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def start(self, timeout: float = 15.0) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="embedded-broker", daemon=True)
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        try:
            future.result(timeout)
        except Exception as e:
            raise ConfigError(f"cannot start the embedded broker on {self.host}:{self.port}: {e}") from e
        log.info("embedded MQTT broker on %s", self.url)

    async def _start(self) -> None:
        config = BrokerConfig(
            listeners={"default": ListenerConfig(bind=f"{self.host}:{self.port}")},
            plugins={"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        )
        self._broker = Broker(config)
        await self._broker.start()

    def stop(self, timeout: float = 10.0) -> None:
        if self._loop is None or self._thread is None:
            return
        if self._broker is not None:
            asyncio.run_coroutine_threadsafe(self._broker.shutdown(), self._loop).result(timeout)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self._loop.close()
