"""Waiting for a board's birth message after a reset: the only module here that uses paho-mqtt.

The subscription is made before the board resets, and retained messages (the previous boot's
birth, or its last will) are ignored: only a status published while we listen counts.
"""

from __future__ import annotations

import json
import logging
import queue
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from ingest.errors import DeviceError

log = logging.getLogger(__name__)

_CONNECT_TIMEOUT_S = 5


class BirthWatch:
    """Listens on `<prefix>/<device>/status`; `start()` before resetting the board, then `wait()`."""

    def __init__(self, host: str, port: int, topic: str, username: str | None, password: str | None):
        self.host, self.port, self.topic = host, port, topic
        self._births: queue.Queue[dict[str, Any]] = queue.Queue()
        self._subscribed: queue.Queue[bool] = queue.Queue()
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        if username is not None:
            self._client.username_pw_set(username, password)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message

    def start(self) -> bool:
        """True when subscribed; False (logged) when the broker cannot be reached or refuses us."""
        try:
            self._client.connect(self.host, self.port, keepalive=30)
        except OSError as e:
            log.warning(
                "broker %s:%d not reachable (%s): not waiting for the birth message", self.host, self.port, e
            )
            return False
        self._client.loop_start()
        try:
            return self._subscribed.get(timeout=_CONNECT_TIMEOUT_S)
        except queue.Empty:
            log.warning(
                "broker %s:%d did not accept our subscription: not waiting for the birth",
                self.host,
                self.port,
            )
            self.stop()
            return False

    def wait(self, timeout: float) -> dict[str, Any]:
        """The birth payload, or DeviceError when none came within `timeout` seconds."""
        try:
            return self._births.get(timeout=timeout)
        except queue.Empty:
            raise DeviceError(
                f"no birth message on {self.topic} within {timeout:g}s after the reset"
            ) from None
        finally:
            self.stop()

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(
        self, client: mqtt.Client, userdata: object, flags: object, rc: Any, props: object
    ) -> None:
        if rc.is_failure:
            log.warning("broker refused the login: %s", rc)
            return
        client.subscribe(self.topic, qos=1)

    def _on_subscribe(
        self, client: mqtt.Client, userdata: object, mid: int, codes: list[Any], props: object
    ) -> None:
        self._subscribed.put(not any(code.is_failure for code in codes))

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        if msg.retain:
            return
        try:
            status = json.loads(msg.payload)
        except ValueError:
            log.warning("unreadable status on %s: %r", msg.topic, msg.payload[:100])
            return
        if isinstance(status, dict) and status.get("online") is True:
            self._births.put(status)
