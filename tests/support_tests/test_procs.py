"""Port choice for the servers tests start: outside the range the kernel gives to outgoing connections."""

from __future__ import annotations

import socket
from types import SimpleNamespace

import pytest

from support import procs
from support.procs import _EPHEMERAL_LOW, free_port


def test_free_ports_are_distinct_bindable_and_below_the_ephemeral_range() -> None:
    ports = [free_port() for _ in range(50)]
    assert len(set(ports)) == 50
    assert all(1024 <= port < _EPHEMERAL_LOW for port in ports)
    with socket.socket() as s:
        s.bind(("127.0.0.1", ports[0]))


def test_a_port_someone_holds_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", free_port()))
        held = holder.getsockname()[1]
        candidates = iter([held, held + 1])
        monkeypatch.setattr(procs, "_pick", SimpleNamespace(choice=lambda _pool: next(candidates)))
        assert free_port() == held + 1
