"""A real Mosquitto broker on a free loopback port, optionally with passwords, ACL and persistence."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from .procs import Process, find_binary, free_port, port_open, wait_until

HINT = "install Mosquitto 2.x (Debian: apt-get install mosquitto, or run `make test` as root)"


@dataclass
class MosquittoOptions:
    users: dict[str, str] = field(default_factory=dict)
    """username → password; when set, anonymous clients are refused."""
    acl: str | None = None
    """ACL file text (`user`, `topic`, `pattern` lines); needs `users`."""
    persistence: bool = False
    autosave_interval: int = 1
    max_queued_messages: int = 100_000
    extra: str = ""


class Mosquitto:
    def __init__(self, workdir: Path, options: MosquittoOptions | None = None):
        self.binary = find_binary("mosquitto", "/usr/sbin", hint=HINT)
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.options = options or MosquittoOptions()
        self.port = free_port()
        self.host = "127.0.0.1"
        self.conf = self.dir / "mosquitto.conf"
        self._write_config()
        self.process = Process([self.binary, "-c", str(self.conf)], self.dir / "mosquitto.log")

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def _write_config(self) -> None:
        o = self.options
        lines = [
            # As root, mosquitto would switch to the `mosquitto` user, which cannot read our temp dir.
            "user root" if os.geteuid() == 0 else "",
            f"listener {self.port} 127.0.0.1",
            "log_dest stdout",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            f"max_queued_messages {o.max_queued_messages}",
            "max_inflight_messages 100",
            "persistent_client_expiration 1d",
        ]
        if o.users:
            pwfile = self.dir / "passwd"
            pwfile.write_text("")
            passwd = find_binary("mosquitto_passwd", "/usr/sbin", hint=HINT)
            for user, password in o.users.items():
                subprocess.run([passwd, "-b", str(pwfile), user, password], check=True, capture_output=True)
            pwfile.chmod(0o600)
            lines += ["allow_anonymous false", f"password_file {pwfile}"]
        else:
            lines.append("allow_anonymous true")
        if o.acl is not None:
            aclfile = self.dir / "acl"
            aclfile.write_text(o.acl)
            aclfile.chmod(0o600)
            lines.append(f"acl_file {aclfile}")
        if o.persistence:
            lines += [
                "persistence true",
                f"persistence_location {self.dir}/",
                f"autosave_interval {o.autosave_interval}",
            ]
        lines.append(o.extra)
        self.conf.write_text("\n".join(lines) + "\n")

    def start(self) -> None:
        self.process.start()
        wait_until(lambda: self._ready(), 10, f"mosquitto on port {self.port}")

    def _ready(self) -> bool:
        self.process.check_alive("mosquitto")
        return port_open(self.port)

    def stop(self) -> None:
        self.process.stop()

    def restart(self) -> None:
        self.stop()
        self.start()

    def log(self) -> str:
        return self.process.output()
