"""Firmware bundles: the manifest and bundle hash boards check, and the limits a bundle is held to."""

from __future__ import annotations

import hashlib

import orjson
import pytest

from ingest.errors import FirmwareError
from ingest.ota.bundle import MAX_BUNDLE_BYTES, MAX_FILE_BYTES, build_bundle, check_manifest

FILES = {"sensorfleet/app.py": b"print('new')\n", "drivers/sim.py": b"X = 1\n"}


def test_the_manifest_lists_each_file_and_the_bundle_hash_of_the_contract() -> None:
    bundle = build_bundle("0.2.0", FILES)
    doc = orjson.loads(bundle.manifest)
    assert [f["path"] for f in doc["files"]] == ["drivers/sim.py", "sensorfleet/app.py"]
    lines = "".join(
        f"{path} {len(data)} {hashlib.sha256(data).hexdigest()}\n" for path, data in sorted(FILES.items())
    )
    assert doc["sha256"] == bundle.sha256 == hashlib.sha256(lines.encode()).hexdigest()
    assert doc["v"] == "0.2.0" and bundle.size == sum(len(d) for d in FILES.values())


@pytest.mark.parametrize(
    ("version", "files", "why"),
    [
        ("0.2 beta", FILES, "not a firmware version"),
        ("", FILES, "not a firmware version"),
        ("1" * 33, FILES, "not a firmware version"),
        ("0.2.0", {}, "at least one file"),
        ("0.2.0", {"../boot.py": b"x"}, "not allowed"),
        ("0.2.0", {"/abs.py": b"x"}, "not allowed"),
        ("0.2.0", {"a//b.py": b"x"}, "not allowed"),
        ("0.2.0", {"main.py": b"x"}, "belongs to the board"),
        ("0.2.0", {"safeboot.py": b"x"}, "belongs to the board"),
        ("0.2.0", {"config.json": b"{}"}, "belongs to the board"),
        ("0.2.0", {"big.py": b"x" * (MAX_FILE_BYTES + 1)}, "at most"),
        ("0.2.0", {f"f{i}.py": b"x" * MAX_FILE_BYTES for i in range(7)}, "at most"),
    ],
)
def test_bad_bundles_are_refused(version: str, files: dict[str, bytes], why: str) -> None:
    assert 7 * MAX_FILE_BYTES > MAX_BUNDLE_BYTES
    with pytest.raises(FirmwareError, match=why):
        build_bundle(version, files)


def test_a_manifest_that_does_not_describe_the_files_is_refused() -> None:
    bundle = build_bundle("0.2.0", FILES)
    check_manifest(bundle, orjson.loads(bundle.manifest))
    doc = orjson.loads(bundle.manifest)
    doc["files"][0]["size"] += 1
    for lie in (doc, {"": -(2**63) - 1}, [], None, "manifest"):
        with pytest.raises(FirmwareError, match="does not match"):
            check_manifest(bundle, lie)
