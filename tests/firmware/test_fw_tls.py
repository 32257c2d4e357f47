"""MQTT over TLS against a real Mosquitto TLS listener: the board verifies the broker against the
CA file named in config.json, and refuses a broker its CA did not sign."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from support.boards import Board, batches, board_config

from support.mosquitto import Mosquitto, MosquittoOptions
from support.mqtt import Recorder
from support.procs import free_port, wait_until


def make_ca(d: Path, name: str) -> None:
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name}",
         "-keyout", str(d / f"{name}.key"), "-out", str(d / f"{name}.pem")],
        check=True, capture_output=True,
    )  # fmt: skip


def make_server_cert(d: Path, ca: str) -> None:
    subprocess.run(
        ["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
         "-keyout", str(d / "server.key"), "-out", str(d / "server.csr")],
        check=True, capture_output=True,
    )  # fmt: skip
    (d / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    subprocess.run(
        ["openssl", "x509", "-req", "-days", "2", "-in", str(d / "server.csr"), "-CA", str(d / f"{ca}.pem"),
         "-CAkey", str(d / f"{ca}.key"), "-CAcreateserial", "-out", str(d / "server.pem"),
         "-extfile", str(d / "ext.cnf")],
        check=True, capture_output=True,
    )  # fmt: skip


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make certificates")
def test_tls_with_ca_verification(
    tmp_path: Path, mosquitto_factory: Callable[..., Mosquitto], board_factory: Callable[..., Board]
) -> None:
    make_ca(tmp_path, "ca")
    make_ca(tmp_path, "other")
    make_server_cert(tmp_path, "ca")
    tls_port = free_port()
    broker = mosquitto_factory(
        MosquittoOptions(
            extra=f"listener {tls_port} 127.0.0.1\ncafile {tmp_path}/ca.pem\n"
            f"certfile {tmp_path}/server.pem\nkeyfile {tmp_path}/server.key\n"
        )
    )
    rec = Recorder(broker.port, ["sf/+/telemetry"])
    mq = {"port": tls_port, "tls": True, "ca": "ca.pem"}
    good = board_factory(board_config(tls_port, mqtt=mq), name="good", start=False)
    shutil.copy(tmp_path / "ca.pem", good.dir / "ca.pem")
    bad = board_factory(board_config(tls_port, device_id="dev-2", mqtt=mq), name="bad", start=False)
    shutil.copy(tmp_path / "other.pem", bad.dir / "ca.pem")  # a CA that did not sign the broker
    good.start()
    bad.start()
    wait_until(lambda: len(batches(rec.snapshot())) >= 3, 30, "batches over TLS")
    bad.wait_console(r"mqtt: .*not correctly signed by the trusted CA; reconnecting", 20)
    assert "mqtt: connected" not in bad.console()
    assert all(m.topic == "sf/dev-1/telemetry" for m in rec.snapshot())
    rec.close()
