"""MQTT over TLS against a real Mosquitto TLS listener and a CA made with openssl: the board connects
only with the CA that signed the broker; with another CA it is refused and says why, its readings
wait in the outbox and all arrive once the config is fixed; without a CA it does not start unless
`tls_insecure` says so, which the birth message reports."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable

from support.boards import Board, TlsBroker, batches, board_config, seqs_by_boot

from support.mqtt import Recorder
from support.procs import wait_until


def test_right_ca_connects_wrong_ca_is_refused_and_its_readings_arrive_once_fixed(
    tls_broker_factory: Callable[..., TlsBroker], board_factory: Callable[..., Board]
) -> None:
    tb = tls_broker_factory()
    rec = Recorder(tb.broker.port, ["sf/+/telemetry"])
    mq = {"port": tb.tls_port, "tls": True, "ca": "ca.pem"}
    good = board_factory(board_config(tb.tls_port, mqtt=mq), name="good", start=False)
    shutil.copy(tb.ca, good.dir / "ca.pem")
    bad = board_factory(
        board_config(tb.tls_port, device_id="dev-2", mqtt=mq, stop_after=40), name="bad", start=False
    )
    shutil.copy(tb.other_ca, bad.dir / "ca.pem")  # a CA that did not sign the broker
    good.start()
    bad.start()
    wait_until(lambda: len(batches(rec.snapshot())) >= 3, 30, "batches over TLS")
    bad.wait_console(r"mqtt: .*not correctly signed by the trusted CA; reconnecting", 20)
    bad.wait_stats(lambda s: s["samples"] == 40, 20, "readings kept in the outbox")
    assert "mqtt: connected" not in bad.console()
    assert all(m.topic == "sf/dev-1/telemetry" for m in rec.snapshot())

    bad.kill()
    shutil.copy(tb.ca, bad.dir / "ca.pem")  # the config is fixed
    bad.start()
    wait_until(
        lambda: (
            set(seqs_by_boot(batches([m for m in rec.snapshot() if "dev-2" in m.topic])).get(1, []))
            == set(range(40))
        ),
        30,
        "every reading of the refused boot",
    )
    rec.close()


def test_tls_without_ca_does_not_start_unless_insecure_which_the_birth_reports(
    tls_broker_factory: Callable[..., TlsBroker], board_factory: Callable[..., Board]
) -> None:
    tb = tls_broker_factory()
    no_ca = board_factory(board_config(tb.tls_port, mqtt={"port": tb.tls_port, "tls": True}), name="no-ca")
    assert no_ca.wait_exit(30) == 2
    assert "mqtt.tls needs mqtt.ca" in no_ca.console() and "mqtt: connected" not in no_ca.console()

    rec = Recorder(tb.broker.port, ["sf/dev-3/status"])
    mq = {"port": tb.tls_port, "tls": True, "tls_insecure": True}
    insecure = board_factory(board_config(tb.tls_port, device_id="dev-3", mqtt=mq), name="insecure")
    insecure.wait_console(r"mqtt: connected", 20)
    assert "TLS without verifying the broker (tls_insecure)" in insecure.console()
    wait_until(lambda: any(b"true" in m.payload for m in rec.snapshot()), 20, "birth")
    birth = json.loads(next(m.payload for m in rec.snapshot() if b"true" in m.payload))
    assert birth["tls_insecure"] is True
    rec.close()


def test_tls_waits_for_the_clock_that_certificates_are_checked_against(
    tls_broker_factory: Callable[..., TlsBroker], board_factory: Callable[..., Board]
) -> None:
    # On the board the RTC starts at 2000 after power-on: a handshake before NTP has set it would fail.
    tb = tls_broker_factory()
    mq = {"port": tb.tls_port, "tls": True, "ca": "ca.pem"}
    board = board_factory(board_config(tb.tls_port, mqtt=mq, clock_delay_s=2), start=False)
    shutil.copy(tb.ca, board.dir / "ca.pem")
    board.start()
    board.wait_console(r"mqtt: connected", 20)
    console = board.console()
    assert console.index("mqtt: waiting for the clock before TLS") < console.index("mqtt: connected")
