"""Helpers for the provisioning tests: a virtual board's REPL on a loopback port, tiny firmware trees."""

from __future__ import annotations

import json
import os
import pty
import select
import socket
import subprocess
import threading
import time
import tty
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from ingest.provision.boardconfig import BoardSettings
from ingest.provision.broker_files import BrokerFiles
from ingest.provision.deploy import build_files
from ingest.provision.firmware_tree import SHIPPED, read_tree
from ingest.provision.ids import INGEST_USERNAME
from ingest.provision.inventory import Inventory
from ingest.provision.provisioning import add_device
from ingest.state.migrate import open_state
from support.micropython import VirtualBoard, run_file
from support.mosquitto import Mosquitto, MosquittoOptions

_POLL_S = 0.1
_PROMPT_TIMEOUT_S = 30
_RESET_GRACE_S = 2


class ReplBridge:
    """Like `socat TCP-LISTEN:PORT,fork EXEC:micropython,pty,rawer`: every connection gets a fresh
    unix-port `micropython` REPL on a pty, started in `fsdir`, which is the board's filesystem.

    `drop()` kills the board in the middle of whatever it is doing: the host sees the port vanish.
    """

    def __init__(self, fsdir: Path, binary: str, heap: str | None = None):
        self.fsdir = fsdir
        self.binary = binary
        self.argv = [binary] if heap is None else [binary, "-X", f"heapsize={heap}"]
        self.booted: VirtualBoard | None = None
        """Set by `boot_after_reset()`: the firmware run from `fsdir` once the REPL ends itself."""
        self._boot_after_reset = False
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(_POLL_S)
        self.port = self._listener.getsockname()[1]
        self.url = f"socket://127.0.0.1:{self.port}"
        self.sessions = 0
        self._child: subprocess.Popen[bytes] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            with conn:
                self._session(conn)

    def _session(self, conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        master, slave = pty.openpty()
        tty.setraw(slave)
        child = subprocess.Popen(
            self.argv, cwd=self.fsdir, stdin=slave, stdout=slave, stderr=slave, start_new_session=True
        )
        os.close(slave)
        self._child = child
        self.sessions += 1
        try:
            # A real board is already at its prompt when the port opens; the unix port flushes
            # input while it sets up its terminal, so nothing is passed on before the prompt.
            self._await_prompt(master)
            while not self._stop.is_set():
                ready, _, _ = select.select([conn, master], [], [], _POLL_S)
                if conn in ready:
                    data = conn.recv(4096)
                    if not data:
                        self._host_gone(child)
                        return
                    os.write(master, data)
                if master in ready:
                    try:
                        data = os.read(master, 4096)
                    except OSError:  # EIO: the board's process is gone
                        data = b""
                    if not data:
                        self._maybe_boot(child)
                        return
                    conn.sendall(data)
                elif child.poll() is not None:
                    self._maybe_boot(child)
                    return
        except OSError:  # the host hung up while we wrote to it
            return
        finally:
            os.close(master)
            self._end(child)

    def _host_gone(self, child: subprocess.Popen[bytes]) -> None:
        # A board outlives the host closing the port; a reset sent just before may still be
        # under way, so the REPL gets a moment to end by itself before it is stopped.
        try:
            child.wait(_RESET_GRACE_S)
        except subprocess.TimeoutExpired:
            return
        self._maybe_boot(child)

    def boot_after_reset(self) -> None:
        """From now on, a REPL that ends by itself (the board reset) is followed by `main.py`."""
        self._boot_after_reset = True

    def _maybe_boot(self, child: subprocess.Popen[bytes]) -> None:
        # A reset ends the REPL with a status; `drop()` kills it with a signal (negative code).
        if child.wait(10) >= 0 and self._boot_after_reset and self.booted is None:
            self.booted = VirtualBoard(self.fsdir)
            self.booted.start()

    def _await_prompt(self, master: int) -> None:
        seen = b""
        deadline = time.monotonic() + _PROMPT_TIMEOUT_S
        while not seen.endswith(b">>> "):
            if time.monotonic() > deadline:
                raise TimeoutError(f"no REPL prompt from {self.binary}: {seen[-200:]!r}")
            ready, _, _ = select.select([master], [], [], _POLL_S)
            if ready:
                seen += os.read(master, 4096)

    @staticmethod
    def _end(child: subprocess.Popen[bytes]) -> None:
        if child.poll() is None:
            child.kill()
        child.wait(10)

    def drop(self) -> None:
        """The board disappears (power cut, cable pulled)."""
        child = self._child
        if child is not None:
            self._end(child)

    def reset_seen(self) -> bool:
        """Whether the last REPL ended by itself (a reset) rather than being stopped by the bridge."""
        child = self._child
        return child is not None and child.poll() is not None and child.returncode >= 0

    def idle(self) -> bool:
        return self._child is None or self._child.poll() is not None

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self._listener.close()
        self.drop()
        if self.booted is not None:
            self.booted.stop()


MAIN = """import json
import app.version
with open('config.json') as f:
    config = json.load(f)
print('firmware', app.version.VERSION, config['device_id'])
"""


def firmware(root: Path, version: str, extra: dict[str, str] | None = None) -> Path:
    """A tiny firmware tree whose main.py prints its version and the board's device id."""
    files = {
        "main.py": MAIN,
        "app/__init__.py": "",
        "app/version.py": f"VERSION = {version!r}\n",
        **(extra or {}),
    }
    shipped = {"every_board": sorted(files), "esp32": [], "unix": [], "not_shipped": []}
    for name, text in {**files, SHIPPED: json.dumps(shipped)}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def files_for(
    tmp_path: Path, version: str, extra: dict[str, str] | None = None, compiled: bool = False
) -> dict[str, bytes]:
    """The files a deploy of that firmware version puts on board `dev-1`."""
    tree = firmware(tmp_path / f"fw-{version}", version, extra)
    return build_files(read_tree(tree, "unix"), {"device_id": "dev-1", "interval_s": 1}, compiled)


def run_board(fsdir: Path) -> str:
    """Runs the board's main.py to its end; returns what it printed."""
    result = run_file(fsdir / "main.py", timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip()


def connect_code(port: int, username: str | None, password: str | None) -> int:
    """The CONNACK return code the broker gives this login (0 = accepted)."""
    done = threading.Event()
    codes: list[int] = []
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    if username is not None:
        client.username_pw_set(username, password)

    def on_connect(c: mqtt.Client, u: object, flags: object, rc: mqtt.ReasonCode, props: object) -> None:
        codes.append(rc.value)
        done.set()

    client.on_connect = on_connect
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        assert done.wait(10), "no CONNACK"
    finally:
        client.disconnect()
        client.loop_stop()
    return codes[0]


Fleet = tuple[Mosquitto, dict[str, str], Path]
"""A locked broker, the logins' passwords (devices and ingest), and the data dir."""


def provision(data_dir: Path, *ids: str) -> tuple[dict[str, str], BrokerFiles]:
    passwords = {}
    files = None
    inventory = Inventory(open_state(data_dir))
    for device_id in ids:
        device, files = add_device(inventory, data_dir, BoardSettings(device_id=device_id))
        passwords[device_id] = device.config["mqtt"]["password"]
    assert files is not None
    return passwords, files


def provisioned_fleet(data_dir: Path, start_broker: Callable[..., Mosquitto], *ids: str) -> Fleet:
    """The devices provisioned in `data_dir`, and a broker that takes only their logins and the
    ingest's, with the generated ACL."""
    passwords, files = provision(data_dir, *ids)
    extra = f"allow_anonymous false\npassword_file {files.passwd}\nacl_file {files.acl}\n"
    broker = start_broker(MosquittoOptions(extra=extra))
    passwords[INGEST_USERNAME] = Inventory(open_state(data_dir)).login(INGEST_USERNAME).password
    return broker, passwords, data_dir
