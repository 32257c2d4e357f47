"""Commands to boards: published to `<prefix>/<id>/cmd` with QoS 1, answered on `<prefix>/<id>/cmd/result`.

The tracker remembers the commands it sent (a bounded number, newest kept). A result reaches it two
ways: at once through the event bus, and from the registry, where the pipeline stores every result
(so a result that came in through another ingest process, or before a restart, is found too).
A command unanswered after `timeout_s` reads as `timeout`; a late result still replaces that.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

import orjson

from ingest.api.events import Event, EventBus
from ingest.api.ports import CommandResults, MessagePublisher
from ingest.contract import COMMAND_SUFFIX, device_topic

POLL_S = 0.25
"""How often a waiting request looks in the registry, for results the event bus did not bring."""


class CommandState(StrEnum):
    PENDING = "pending"
    OK = "ok"
    ERROR = "error"
    TIMEOUT = "timeout"


@dataclass(frozen=True, slots=True)
class Command:
    id: str
    device: str
    op: str | None
    args: Mapping[str, Any]
    sent_at: float | None
    state: CommandState = CommandState.PENDING
    result: Any = None
    error: str | None = None

    def answered(self, body: Mapping[str, Any]) -> Command:
        if body.get("ok") is True:
            return replace(self, state=CommandState.OK, result=body.get("result"), error=None)
        error = str(body.get("error", "the board reported a failure"))
        return replace(self, state=CommandState.ERROR, result=body.get("result"), error=error)


class CommandTracker:
    def __init__(
        self,
        publisher: MessagePublisher,
        bus: EventBus,
        results: CommandResults,
        prefix: str = "sf",
        timeout_s: float = 60.0,
        capacity: int = 10_000,
        clock: Callable[[], float] = time.time,
    ):
        self._publisher, self._results, self._prefix, self._clock = publisher, results, prefix, clock
        self.timeout_s, self.capacity = timeout_s, capacity
        self._commands: OrderedDict[tuple[str, str], Command] = OrderedDict()
        self._waiters: dict[tuple[str, str], list[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = {}
        self._lock = threading.Lock()
        bus.listen("command_result", self._on_event)

    def send(self, device: str, op: str, args: Mapping[str, Any], command_id: str | None = None) -> Command:
        """Publishes the command; sending an id again re-publishes it (boards run an id once)."""
        command_id = command_id or "c" + secrets.token_hex(6)
        command = Command(command_id, device, op, dict(args), self._clock())
        with self._lock:
            self._commands[(device, command_id)] = command
            self._commands.move_to_end((device, command_id))
            while len(self._commands) > self.capacity:
                self._commands.popitem(last=False)
        payload = orjson.dumps({"id": command_id, "op": op, "args": command.args})
        self._publisher.publish(device_topic(self._prefix, device, COMMAND_SUFFIX), payload, qos=1)
        return command

    def broker_connected(self) -> bool:
        return self._publisher.broker_connected()

    def get(self, device: str, command_id: str) -> Command | None:
        with self._lock:
            command = self._commands.get((device, command_id))
        if command is not None and command.state is not CommandState.PENDING:
            return command
        stored = self._results.command_result(device, command_id)
        if stored is not None:
            return (command or Command(command_id, device, None, {}, None)).answered(stored)
        sent_at = None if command is None else command.sent_at
        if command is not None and sent_at is not None and self._clock() - sent_at > self.timeout_s:
            return replace(command, state=CommandState.TIMEOUT)
        return command

    async def wait(self, device: str, command_id: str, seconds: float) -> Command | None:
        """The command once answered, or as it stands after `seconds`."""
        key = (device, command_id)
        woken = asyncio.Event()
        with self._lock:
            self._waiters.setdefault(key, []).append((asyncio.get_running_loop(), woken))
        deadline = time.monotonic() + seconds
        try:
            while True:
                # In a thread: the registry may be busy with a write, and this runs on the event loop.
                command = await asyncio.to_thread(self.get, device, command_id)
                left = deadline - time.monotonic()
                if command is None or command.state is not CommandState.PENDING or left <= 0:
                    return command
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(woken.wait(), min(POLL_S, left))
        finally:
            with self._lock:
                waiters = self._waiters.get(key, [])
                waiters[:] = [w for w in waiters if w[1] is not woken]
                if not waiters:
                    self._waiters.pop(key, None)

    def _on_event(self, event: Event) -> None:
        key = (event.device, str(event.data.get("id")))
        with self._lock:
            command = self._commands.get(key)
            if command is None:
                return
            self._commands[key] = command.answered(event.data)
            waiters = list(self._waiters.get(key, []))
        for loop, woken in waiters:
            with contextlib.suppress(RuntimeError):  # the waiting request's loop is gone
                loop.call_soon_threadsafe(woken.set)
