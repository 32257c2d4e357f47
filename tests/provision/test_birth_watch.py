"""Waiting for a board's birth on a real Mosquitto: old (retained) births and last wills do not count."""

from __future__ import annotations

import json

import pytest

from ingest.errors import DeviceError
from ingest.provision.birth import BirthWatch
from support.mosquitto import Mosquitto
from support.mqtt import Recorder
from support.procs import free_port

TOPIC = "sf/dev-1/status"


def test_only_a_birth_published_while_listening_counts(mosquitto: Mosquitto) -> None:
    board = Recorder(mosquitto.port)
    try:
        board.publish(TOPIC, json.dumps({"online": True, "boot": 1}), retain=True)
        watch = BirthWatch("127.0.0.1", mosquitto.port, TOPIC, None, None)
        assert watch.start()
        board.publish(TOPIC, b"not json")
        board.publish(TOPIC, json.dumps({"online": False}), retain=True)
        board.publish(TOPIC, json.dumps({"online": True, "boot": 2}), retain=True)
        assert watch.wait(10) == {"online": True, "boot": 2}
    finally:
        board.close()


def test_no_birth_is_an_error(mosquitto: Mosquitto) -> None:
    watch = BirthWatch("127.0.0.1", mosquitto.port, TOPIC, None, None)
    assert watch.start()
    with pytest.raises(DeviceError, match=r"no birth message on sf/dev-1/status within 0\.5s"):
        watch.wait(0.5)


def test_an_unreachable_broker_means_no_wait() -> None:
    assert BirthWatch("127.0.0.1", free_port(), TOPIC, None, None).start() is False
