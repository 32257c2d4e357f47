"""Virtual boards for the firmware and reliability tests and the benchmarks: board directories, a
durable MQTT recorder, decoding of what the boards publish, and certificates made with openssl for a
broker's TLS listener."""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from ingest.provision.mpy_compile import compile_modules

from .micropython import VirtualBoard
from .mosquitto import Mosquitto
from .procs import wait_until

REPO = Path(__file__).resolve().parents[2]
FIRMWARE = REPO / "firmware"
MP_TESTS = REPO / "tests" / "firmware" / "mp"
STATS = re.compile(r"^(stats|final) (.*)$", re.M)


def board_config(port: int, device_id: str = "dev-1", **over: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "device_id": device_id,
        "mqtt": {
            "host": "127.0.0.1",
            "port": port,
            "backoff_min_s": 0.2,
            "backoff_max_s": 1.0,
            "keepalive": 10,
        },
        "interval_s": 0.05,
        "batch_max": 20,
        "flush_ms": 200,
        "log_s": 0.5,
        "status_s": 5,
        "sensors": [{"type": "sim", "metrics": ["temperature", "humidity"]}],
    }
    mq = over.pop("mqtt", None)
    if mq:
        cfg["mqtt"].update(mq)
    cfg.update(over)
    return cfg


def make_board_dir(path: Path, config: dict[str, Any] | str | None) -> Path:
    """A board's filesystem: the firmware tree, compiled as a deploy puts it on a board, plus
    config.json (as on a freshly deployed board)."""
    path.mkdir(parents=True, exist_ok=True)
    skip = ("config.json", "data", "__pycache__")
    tree = {
        p.relative_to(FIRMWARE).as_posix(): p.read_bytes()
        for p in FIRMWARE.rglob("*")
        if p.is_file() and not any(part in skip or part[0] == "." for part in p.relative_to(FIRMWARE).parts)
    }
    for relative, data in compile_modules(tree).items():
        target = path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    if config is not None:
        text = config if isinstance(config, str) else json.dumps(config)
        (path / "config.json").write_text(text)
    return path


class Board(VirtualBoard):
    """A VirtualBoard with console parsing."""

    def stats(self) -> dict[str, int]:
        found = STATS.findall(self.console())
        if not found:
            return {}
        return {k: int(v) for k, v in (kv.split("=") for kv in found[-1][1].split())}

    def wait_console(self, pattern: str, timeout: float = 20) -> re.Match[str]:
        rx = re.compile(pattern, re.M)
        box: list[re.Match[str]] = []

        def check() -> bool:
            m = rx.search(self.console())
            if m:
                box.append(m)
                return True
            if not self.process.running():
                raise AssertionError(f"board exited, waiting for {pattern!r}:\n{self.console()[-3000:]}")
            return False

        wait_until(check, timeout, f"console {pattern!r}")
        return box[0]

    def wait_stats(self, check: Any, timeout: float = 30, what: str = "board stats") -> dict[str, int]:
        wait_until(lambda: bool(self.stats()) and bool(check(self.stats())), timeout, what)
        return self.stats()

    def wait_exit(self, timeout: float = 60) -> int:
        assert self.process.proc is not None
        return self.process.proc.wait(timeout)

    def config_on_flash(self) -> dict[str, Any]:
        return json.loads((self.dir / "config.json").read_text())


class DurableRecorder:
    """A QoS 1 subscriber with a persistent session (clean_session=False) that reconnects quickly:
    with a broker that has persistence on, it misses nothing across a broker restart."""

    def __init__(self, port: int, topics: list[str], client_id: str = "fw-test-recorder"):
        self.messages: list[tuple[str, bytes, bool]] = []
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        self.topics = topics
        c = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311, clean_session=False
        )
        c.reconnect_delay_set(0.1, 0.5)
        c.on_connect = self._on_connect
        c.on_subscribe = lambda *a: self.subscribed.set()
        c.on_message = self._on_message
        self.client = c
        c.connect("127.0.0.1", port, keepalive=5)
        c.loop_start()
        if not self.subscribed.wait(10):
            raise TimeoutError("subscription not acknowledged")

    def _on_connect(self, client: mqtt.Client, *args: object) -> None:
        for t in self.topics:
            client.subscribe(t, qos=1)

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.messages.append((msg.topic, msg.payload, bool(msg.retain)))

    def snapshot(self) -> list[tuple[str, bytes, bool]]:
        with self.lock:
            return list(self.messages)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def batches(messages: list[Any], topic_suffix: str = "/telemetry") -> list[dict[str, Any]]:
    """The telemetry batches among recorded messages ((topic, payload, ...) tuples or Received)."""
    out = []
    for m in messages:
        topic, payload = (m.topic, m.payload) if hasattr(m, "topic") else (m[0], m[1])
        if topic.endswith(topic_suffix):
            out.append(json.loads(payload))
    return out


def seqs_by_boot(batch_list: list[dict[str, Any]]) -> dict[int, list[int]]:
    """Every (boot, seq) received, duplicates included, in arrival order."""
    got: dict[int, list[int]] = defaultdict(list)
    for b in batch_list:
        for i in range(len(b["readings"])):
            got[b["boot"]].append(b["seq"] + i)
    return got


def readings_by_key(batch_list: list[dict[str, Any]]) -> dict[tuple[int, int], list[dict[str, Any]]]:
    out: dict[tuple[int, int], list[dict[str, Any]]] = defaultdict(list)
    for b in batch_list:
        for i, r in enumerate(b["readings"]):
            out[(b["boot"], b["seq"] + i)].append(r)
    return out


def settle_until_quiet(count: Any, quiet: float = 1.0, timeout: float = 30) -> None:
    """Waits until count() stops changing for `quiet` seconds."""
    deadline = time.monotonic() + timeout
    last = count()
    since = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = count()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
    raise TimeoutError("still receiving")


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def make_ca(d: Path, name: str) -> Path:
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name}",
             "-keyout", str(d / f"{name}.key"), "-out", str(d / f"{name}.pem"))  # fmt: skip
    return d / f"{name}.pem"


def make_server_cert(d: Path, ca: str) -> None:
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
             "-keyout", str(d / "server.key"), "-out", str(d / "server.csr"))  # fmt: skip
    (d / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _openssl("x509", "-req", "-days", "2", "-in", str(d / "server.csr"), "-CA", str(d / f"{ca}.pem"),
             "-CAkey", str(d / f"{ca}.key"), "-CAcreateserial", "-out", str(d / "server.pem"),
             "-extfile", str(d / "ext.cnf"))  # fmt: skip


@dataclass
class TlsBroker:
    broker: Mosquitto
    tls_port: int
    ca: Path
    """The CA that signed the broker's certificate."""
    other_ca: Path
    """A CA that did not."""
