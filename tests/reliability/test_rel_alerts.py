"""Alerts from real boards, a real broker with the shipped ACL, InfluxDB and a real webhook receiver.

`test_boards_raise_what_went_wrong_with_them`: one board killed → offline; a board with a tiny outbox
whose link is cut while it keeps sampling → offline, then no readings, then (back, having dropped
readings) board-side loss with the count and readings missing; each of them notified once, and
resolved once where the condition ends.

`test_one_notification_per_transition_through_restarts_and_an_unreachable_receiver`: a threshold
rule with `for: 3s` and hysteresis, on two ingest processes sharing one PostgreSQL; the processes
restarted while the alert is pending (kill -9) and while it is firing (stop), the receiver answering
500 until it is up: it gets exactly one firing and one resolved notification, and every reading
published meanwhile is stored.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from reliability.chain import Ingest, chain

from support.influx import InfluxDB
from support.mqtt import Recorder
from support.postgres import PostgreSQL
from support.procs import wait_until
from support.webhook import WebhookReceiver

FAST = {"SENSORFLEET_ALERT_TICK_S": "0.5", "SENSORFLEET_ALERT_SCAN_S": "0.5"}


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    found = WebhookReceiver()
    yield found
    found.close()


def add_rule(ingest: Ingest, rule: dict[str, Any]) -> None:
    answer = ingest.http.post("/api/v1/alert-rules", json=rule)
    assert answer.status_code == 201, answer.text


def test_boards_raise_what_went_wrong_with_them(
    tmp_path: Path, influxd: InfluxDB, influx_db: str, receiver: WebhookReceiver
) -> None:
    with chain(tmp_path, influxd, influx_db, devices=2) as c:
        ingest = c.start_ingest(**FAST)
        hook = [receiver.url]
        add_rule(
            ingest,
            {"name": "gone", "selector": {"all": True}, "condition": {"kind": "offline"}, "webhooks": hook},
        )
        for name, condition in (
            ("quiet", {"kind": "no_readings", "after_s": 2}),
            ("lost", {"kind": "board_loss"}),
            ("gaps", {"kind": "missing", "over": 0}),
        ):
            add_rule(
                ingest,
                {"name": name, "selector": {"devices": ["dev-2"]}, "condition": condition, "webhooks": hook},
            )
        steady = c.add_board("dev-1", 100_000, interval_s=0.05)
        # 8 KiB of outbox holds about a hundred readings: seconds of sampling at this rate.
        small = c.add_board("dev-2", 100_000, via_proxy=True, interval_s=0.01, outbox_kb=8, status_s=1)
        assert small.proxy is not None
        c.start_boards()
        wait_until(
            lambda: all(d["online"] for d in ingest.devices().values()) and len(ingest.devices()) == 2,
            60,
            "online",
        )

        steady.board.kill()
        wait_until(lambda: ("firing", "gone", "dev-1") in receiver.statuses(), 30, "dev-1's offline alert")

        small.proxy.down()  # the board keeps sampling into its outbox, and drops the oldest when full
        wait_until(
            lambda: ("firing", "quiet", "dev-2") in receiver.statuses(), 30, "dev-2's no-readings alert"
        )
        small.board.wait_stats(lambda stats: stats.get("dropped", 0) > 0, 60, "the board to drop readings")
        small.proxy.restore()
        wait_until(lambda: ("resolved", "quiet", "dev-2") in receiver.statuses(), 60, "readings again")
        wait_until(
            lambda: ("firing", "lost", "dev-2") in receiver.statuses(), 30, "the board-side loss alert"
        )
        wait_until(lambda: ("resolved", "gone", "dev-2") in receiver.statuses(), 30, "dev-2 online again")
        time.sleep(2)  # the outbox's backlog in, and anything sent twice would arrive by now
        # The board counts as dropped every reading it gave up, and some of those (a batch in flight
        # when its segment went) may still reach the broker: every gap is a counted drop, not the
        # converse. The missing-readings alert fires exactly when the ingest holds a gap.
        lost = next(n for n in receiver.received if n["alerts"][0]["labels"]["alertname"] == "lost")
        dropped = orjson.loads(lost["alerts"][0]["annotations"]["value"])["dropped"]
        assert dropped > 0 and f"dropped {dropped} readings" in lost["alerts"][0]["annotations"]["summary"]
        gaps = ingest.devices()["dev-2"]["completeness"]["missing"]
        assert gaps <= dropped, (gaps, dropped)
        if gaps:
            wait_until(
                lambda: ("firing", "gaps", "dev-2") in receiver.statuses(), 30, "the missing-readings alert"
            )
        else:
            time.sleep(2)  # two scans: no alert for gaps that are not there

        got = receiver.statuses()
        assert sorted(got) == sorted(
            [
                ("firing", "gone", "dev-1"),
                ("firing", "gone", "dev-2"),
                ("resolved", "gone", "dev-2"),
                ("firing", "quiet", "dev-2"),
                ("resolved", "quiet", "dev-2"),
                ("firing", "lost", "dev-2"),
                *([("firing", "gaps", "dev-2")] if gaps else []),
            ]
        ), got
        listed = ingest.http.get("/api/v1/alerts", params={"device": "dev-2"}).json()["alerts"]
        assert {a["rule"] for a in listed} == {"gone", "quiet", "lost"} | ({"gaps"} if gaps else set())
        assert all(n["state"] == "delivered" for a in listed for n in a["notifications"])


def test_one_notification_per_transition_through_restarts_and_an_unreachable_receiver(
    tmp_path: Path, influxd: InfluxDB, influx_db: str, postgres: PostgreSQL, receiver: WebhookReceiver
) -> None:
    url = postgres.create_database(f"alerts_{uuid.uuid4().hex[:8]}")
    env = {**FAST, "SENSORFLEET_SHARE_GROUP": "alerts", "SENSORFLEET_DATABASE_URL": url}
    with chain(tmp_path, influxd, influx_db, devices=1) as c:
        a, b = c.start_ingest(**env), c.start_ingest(**env)
        board = Recorder(c.broker.port, client_id="dev-1", username="dev-1", password=c.passwords["dev-1"])
        published: list[float] = []
        start_ms = int(time.time() * 1000)

        def send(*values: float, pause: float = 0.2) -> None:
            for value in values:
                ts = start_ms + len(published) * 10
                doc = {"boot": 1, "seq": len(published), "readings": [{"ts": ts, "temperature": value}]}
                board.publish("sf/dev-1/telemetry", orjson.dumps(doc))
                published.append(value)
                time.sleep(pause)

        try:
            send(20.0)
            wait_until(lambda: "dev-1" in a.devices(), 30, "the metric in use")
            hot = {
                "name": "hot",
                "selector": {"devices": ["dev-1"]},
                "condition": {"kind": "threshold", "metric": "temperature", "above": 30, "hysteresis": 2},
                "for_s": "3s",
                "webhooks": [receiver.url],
            }
            add_rule(b, hot)
            receiver.mode = "fail"
            send(31, 32, 31)  # pending
            pending = a.http.get("/api/v1/alerts", params={"state": "active"}).json()["alerts"]
            assert [x["state"] for x in pending] == ["pending"], pending
            a.kill()
            a.start()
            # Inside the hysteresis band (28..30] the alert stays on; 3 s after it began it fires.
            send(29.5, 31, 28.5, 30.5, 29, 31, 29.5, 31, 30.2, 31, 29, 31, 31, 31)
            wait_until(lambda: receiver.attempts >= 2, 30, "the receiver to be tried and tried again")

            def webhook_notes() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
                active = b.http.get("/api/v1/alerts", params={"state": "active"}).json()["alerts"]
                notes = [n for n in active[0]["notifications"] if n["target"] != "mqtt"] if active else []
                return active, notes

            # The receiver sees an attempt before the notifier has written down how it went.
            wait_until(lambda: any(n["last_error"] for n in webhook_notes()[1]), 30, "the failure recorded")
            firing, [note] = webhook_notes()
            assert (firing[0]["state"], note["state"], note["last_error"]) == (
                "firing",
                "waiting",
                "HTTP 500",
            )
            b.stop()
            b.start()
            receiver.mode = "accept"
            wait_until(
                lambda: receiver.statuses() == [("firing", "hot", "dev-1")], 60, "the firing notification"
            )
            send(27.9)
            wait_until(lambda: len(receiver.statuses()) == 2, 30, "the resolved notification")
            send(31, pause=0)  # a new alert may start; it must not be notified within its `for`
            time.sleep(2)
            assert receiver.statuses() == [("firing", "hot", "dev-1"), ("resolved", "hot", "dev-1")]
            c.wait_drained(len(published), 60)
            assert c.stored_total() == len(published)
        finally:
            board.close()
