"""What the API needs from the rest of the service, as protocols; `ingest.api.install.ApiParts` holds them.

`ingest.storage.base.Store` is a `SeriesReader`, `ingest.registry.Registry` a `DeviceDirectory`
and a `CommandResults`, the ingest service a `MessagePublisher`, `ingest.deadletters.DeadLetters` a
`DeadLetterStore` and `ingest.pipeline.replay.Replayer` a `DeadLetterReplayer`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import Any, Protocol

from ingest.deadletters import DeviceCount, Selection, StoredLetter, Summary
from ingest.pipeline.replay import ReplayReport
from ingest.points import Point
from ingest.storage.base import Agg, LatestValues, SeriesPoint


class SeriesReader(Protocol):
    def series(
        self,
        device: str,
        metric: str,
        start_ms: int,
        end_ms: int,
        agg: Agg | None = None,
        every_ms: int | None = None,
    ) -> list[SeriesPoint]: ...

    def latest_values(self, wanted: Mapping[str, Collection[str]]) -> LatestValues: ...

    def points(self, device: str, start_ms: int, end_ms: int) -> Iterator[Point]: ...


class BootRecord(Protocol):
    """Completeness of one boot of a board: readings received and the seq ranges never received."""

    @property
    def boot(self) -> int: ...
    @property
    def received(self) -> int: ...
    @property
    def missing(self) -> Sequence[tuple[int, int]]: ...


class DeviceRecord(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def online(self) -> bool | None: ...
    @property
    def last_seen_ms(self) -> int | None: ...
    @property
    def fw(self) -> str | None: ...
    @property
    def rssi(self) -> float | None: ...
    @property
    def status(self) -> Mapping[str, Any]: ...
    @property
    def tags(self) -> Mapping[str, str]: ...
    @property
    def received(self) -> int: ...
    @property
    def duplicates(self) -> int: ...
    @property
    def missing(self) -> int: ...
    @property
    def boots(self) -> Sequence[BootRecord]: ...
    @property
    def metrics(self) -> Sequence[str]:
        """The metric names the device has used."""
        ...


class StatusChangeRecord(Protocol):
    """A device's state after a status that changed `online`, `boot` or `fw` (those are in `changed`)."""

    @property
    def at_ms(self) -> int: ...
    @property
    def online(self) -> bool: ...
    @property
    def fw(self) -> str | None: ...
    @property
    def boot(self) -> int | None: ...
    @property
    def changed(self) -> Sequence[str]: ...
    @property
    def retained(self) -> bool: ...


class DeviceDirectory(Protocol):
    def devices(self, after: str = "", limit: int = -1) -> Sequence[DeviceRecord]:
        """In id order, those after `after`, at most `limit` (all with -1)."""
        ...

    def device(self, device: str) -> DeviceRecord | None: ...

    def count(self) -> int:
        """How many devices there are."""
        ...

    def status_changes(self, device: str, limit: int) -> Sequence[StatusChangeRecord]:
        """Newest first, at most `limit`."""
        ...


class CommandResults(Protocol):
    """Command results as the pipeline stored them: `{"id", "ok", "result"|"error"}`."""

    def command_result(self, device: str, command_id: str) -> Mapping[str, Any] | None: ...


class MessagePublisher(Protocol):
    def publish(self, topic: str, payload: bytes, qos: int = 1) -> object: ...

    def broker_connected(self) -> bool: ...


class DeadLetterStore(Protocol):
    def page(
        self, selection: Selection, before_id: int | None = None, limit: int = 100
    ) -> Sequence[StoredLetter]:
        """Newest first: those matching `selection` with an id below `before_id`, at most `limit`."""
        ...

    def get(self, letter_id: int) -> StoredLetter | None: ...

    def purge(self, selection: Selection) -> int: ...

    def summary(self, device: str | None = None, newest: int = 10) -> Summary: ...

    def per_device(self, after: str = "", limit: int = 100) -> Sequence[DeviceCount]: ...


class DeadLetterReplayer(Protocol):
    def replay(self, selection: Selection, limit: int = ...) -> ReplayReport: ...
