"""The dead-letter store on both state databases: each letter's device, paging and filters, purge, the
summary, claims that two replays never share, and the migration that gives old letters their device."""

from __future__ import annotations

import threading
from pathlib import Path

from alembic import command
from sqlalchemy import text

from ingest.deadletters import CLAIM_LEASE_MS, DeadLetter, DeadLetters, Selection
from ingest.state.database import StateDatabase
from ingest.state.migrate import _alembic, open_state, upgrade

TOPICS = [
    "sf/dev-1/telemetry",
    "sf/dev-2/status",
    "sf/dev-1/cmd/result",
    "sf/Bad Id/telemetry",
    "spool/dev-2",
    "nothing-here",
    "",
]


def letters(state: StateDatabase) -> DeadLetters:
    found = DeadLetters(state)
    found.add(
        [
            DeadLetter(1000 + i, topic, f"reason {i}: 100%_{'odd' if i % 2 else 'even'}", b"\xff\x00" * i)
            for i, topic in enumerate(TOPICS)
        ]
    )
    return found


def test_each_letter_has_its_topic_s_device_and_pages_newest_first(state_url: str, tmp_path: Path) -> None:
    store = letters(open_state(tmp_path, state_url))
    everything = store.page(Selection(), limit=100)
    assert [x.device for x in everything] == [None, None, "dev-2", None, "dev-1", "dev-2", "dev-1"]
    assert [x.topic for x in everything] == TOPICS[::-1]
    first, second = store.page(Selection(), limit=4), store.page(Selection(), everything[3].id, 4)
    assert first + second == everything
    one = store.get(everything[1].id)
    assert one == everything[1] and one.payload == b"\xff\x00" * 5 and one.payload_bytes == 10
    assert store.get(10**12) is None


def test_filters_by_device_by_reason_and_by_age(state_url: str, tmp_path: Path) -> None:
    store = letters(open_state(tmp_path, state_url))
    assert [x.topic for x in store.page(Selection(device="dev-1"))] == ["sf/dev-1/cmd/result", TOPICS[0]]
    # The reason filter is a plain substring, whatever the case: % and _ are not wildcards.
    assert store.count(Selection(reason="100%_ODD")) == 3
    assert store.count(Selection(reason="0%")) == 7 and store.count(Selection(reason="1_0")) == 0
    assert store.count(Selection(device="dev-2", reason="even")) == 1
    assert store.count(Selection(before_ms=1003)) == 3
    assert store.count(Selection(ids=(1, 2, 3), device="dev-1")) == 2


def test_purge_deletes_what_it_is_told_and_nothing_else(state_url: str, tmp_path: Path) -> None:
    store = letters(open_state(tmp_path, state_url))
    ids = [x.id for x in store.page(Selection())]
    assert store.purge(Selection(ids=(ids[0], ids[1]))) == 2
    assert store.purge(Selection(before_ms=1002)) == 2
    assert store.purge(Selection(device="dev-9")) == 0
    assert sorted(x.id for x in store.page(Selection())) == sorted(ids[2:5])
    assert store.purge(Selection()) == 3 and store.count() == 0


def test_summary_counts_per_device_and_names_the_newest_without_payloads(
    state_url: str, tmp_path: Path
) -> None:
    store = letters(open_state(tmp_path, state_url))
    fleet = store.summary(newest=2)
    assert fleet.total == 7
    assert [(x.topic, x.payload) for x in fleet.newest] == [("", b""), ("nothing-here", b"")]
    assert store.summary("dev-2").total == 2
    assert [(c.device, c.count) for c in store.per_device()] == [("dev-1", 2), ("dev-2", 2)]
    assert [c.device for c in store.per_device(after="dev-1", limit=5)] == ["dev-2"]


def test_two_replays_claiming_at_once_never_take_the_same_letter(state_url: str, tmp_path: Path) -> None:
    states = [open_state(tmp_path, state_url) for _ in range(4)]
    store = DeadLetters(states[0])
    store.add([DeadLetter(i, "sf/dev-1/telemetry", "r", b"{}") for i in range(200)])
    taken: list[list[int]] = []
    start = threading.Barrier(len(states))

    def claim(state: StateDatabase) -> None:
        start.wait()
        _, got = DeadLetters(state).claim(Selection(), now_ms=10_000, limit=200)
        taken.append([x.id for x in got])

    threads = [threading.Thread(target=claim, args=(s,)) for s in states]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    everything = [i for ids in taken for i in ids]
    assert sorted(everything) == sorted(set(everything)) and len(everything) == 200


def test_settling_a_claim_removes_the_stored_renames_the_failed_and_frees_the_rest(
    state_url: str, tmp_path: Path
) -> None:
    store = letters(open_state(tmp_path, state_url))
    claim, held = store.claim(Selection(device="dev-1"), now_ms=5_000, limit=10)
    stored, failed = held
    assert store.claim(Selection(device="dev-1"), now_ms=5_000, limit=10)[1] == []
    store.settle(claim, [stored.id], {failed.id: "today's reason"})
    assert store.get(stored.id) is None
    assert store.get(failed.id).reason == "today's reason"  # type: ignore[union-attr]
    assert [x.id for x in store.claim(Selection(device="dev-1"), now_ms=5_000, limit=10)[1]] == [failed.id]


def test_a_claim_whose_lease_ended_is_taken_over_and_the_first_settle_changes_nothing(
    state_url: str, tmp_path: Path
) -> None:
    store = letters(open_state(tmp_path, state_url))
    first, [letter] = store.claim(Selection(ids=(1,)), now_ms=0, limit=1)
    assert store.claim(Selection(ids=(1,)), now_ms=CLAIM_LEASE_MS - 1, limit=1)[1] == []
    second, [again] = store.claim(Selection(ids=(1,)), now_ms=CLAIM_LEASE_MS + 1, limit=1)
    assert again.id == letter.id
    store.settle(first, [letter.id], {})
    assert store.get(letter.id) is not None
    store.settle(second, [letter.id], {})
    assert store.get(letter.id) is None


def test_the_upgrade_gives_letters_kept_before_it_their_device(state_url: str, tmp_path: Path) -> None:
    db = StateDatabase(state_url if "postgresql" in state_url else f"sqlite:///{tmp_path / 'old.sqlite'}")
    with db.write() as connection:
        command.upgrade(_alembic(connection), "0003")
        for i, topic in enumerate(["sf/dev-7/telemetry", "sf/NOPE/telemetry", "x"]):
            connection.execute(
                text(
                    "INSERT INTO dead_letters (received_ms, topic, reason, payload, payload_bytes) "
                    "VALUES (:r, :t, 'old', :p, 1)"
                ),
                {"r": i, "t": topic, "p": b"x"},
            )
    upgrade(db)
    store = DeadLetters(db)
    assert [x.device for x in store.page(Selection())] == [None, None, "dev-7"]
    assert store.count(Selection(device="dev-7")) == 1
