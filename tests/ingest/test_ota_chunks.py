"""The chunk protocol from the ingest's side: a board reassembles every file from its answers, and any
request (a hostile board's included) gets a clear status and no bytes it was not offered."""

from __future__ import annotations

import hashlib

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.contract import MAX_OTA_CHUNK, OTA_MANIFEST
from ingest.ota.bundle import Bundle, build_bundle
from ingest.ota.chunks import HEADER, PROTOCOL, ChunkStatus, answer

FILES = {"sensorfleet/app.py": bytes(range(256)) * 9, "drivers/sim.py": b"X = 1\n"}
BUNDLE = build_bundle("0.2.0", FILES)


def offered(version: str) -> Bundle | None:
    return BUNDLE if version == "0.2.0" else None


def read(bundle: Bundle, path: str) -> bytes:
    return FILES[path]


def ask(**fields: object) -> tuple[int, int, int, int, bytes]:
    reply = answer(orjson.dumps({"v": "0.2.0", "id": 7, **fields}), offered, read).payload
    proto, status, req_id, offset, total = HEADER.unpack(reply[: HEADER.size])
    assert proto == PROTOCOL
    return status, req_id, offset, total, reply[HEADER.size :]


def fetch(path: str, n: int = MAX_OTA_CHUNK) -> bytes:
    got = b""
    while True:
        status, req_id, offset, total, data = ask(file=path, off=len(got), n=n)
        assert (status, req_id, offset) == (ChunkStatus.OK, 7, len(got))
        got += data
        if len(got) == total:
            return got


def test_a_board_reassembles_the_file_list_and_every_file() -> None:
    assert HEADER.size == 12
    listed = fetch(OTA_MANIFEST, n=100)
    assert hashlib.sha256(listed).hexdigest() == BUNDLE.sha256
    lines = listed.decode().splitlines()
    assert [line.split(" ")[0] for line in lines] == sorted(FILES)
    for line in lines:
        path, size, sha256 = line.split(" ")
        data = fetch(path)
        assert hashlib.sha256(data).hexdigest() == sha256 and len(data) == int(size)


def test_refusals_carry_a_status_and_no_bytes() -> None:
    assert ask(v="9.9.9", file="drivers/sim.py", off=0)[0] == ChunkStatus.UNKNOWN_VERSION
    assert ask(file="hal/other.py", off=0)[0] == ChunkStatus.UNKNOWN_FILE
    assert ask(file="drivers/sim.py", off=10_000)[0] == ChunkStatus.PAST_END
    assert ask(file="drivers/sim.py", off=0, n=MAX_OTA_CHUNK + 1)[0] == ChunkStatus.BAD_REQUEST
    assert ask(file="drivers/sim.py", off=-1)[0] == ChunkStatus.BAD_REQUEST
    for refused in [ask(v="9.9.9", file="drivers/sim.py", off=0), ask(file="x", off=0)]:
        assert refused[4] == b""
    end = ask(file="drivers/sim.py", off=len(FILES["drivers/sim.py"]))
    assert end[0] == ChunkStatus.OK and end[4] == b""


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=400),
        st.dictionaries(
            st.sampled_from(["v", "file", "off", "id", "n", "x"]),
            st.one_of(
                st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), st.floats(), st.text(max_size=40)
            ),
        ).map(orjson.dumps),
    )
)
def test_any_request_gets_a_header_and_never_more_than_a_chunk(payload: bytes) -> None:
    reply = answer(payload, offered, read)
    proto, status, _, offset, total = HEADER.unpack(reply.payload[: HEADER.size])
    assert proto == PROTOCOL and status in set(ChunkStatus)
    body = reply.payload[HEADER.size :]
    assert len(body) <= MAX_OTA_CHUNK
    if status != ChunkStatus.OK:
        assert body == b"" and reply.refused
    else:
        assert reply.refused is None and offset + len(body) <= total
