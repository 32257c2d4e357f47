"""A real PostgreSQL cluster (Debian's `postgresql`) on a free loopback port, in a temp dir of its own.

The server refuses to run as root: as root, the cluster's dir belongs to the `postgres` user and the
server runs as that user (`setpriv` execs it, so the pid this process stops is the server's own). The
dir is made under the system temp dir, not pytest's, which only root may enter.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import psycopg

from .procs import Process, free_port, wait_until

HINT = "install PostgreSQL (Debian: apt-get install postgresql, or run `make test` as root)"
USER = "postgres"


def server_bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    if not found:
        raise FileNotFoundError(f"no PostgreSQL server found: {HINT}")
    return Path(found[-1]).parent


class PostgreSQL:
    def __init__(self) -> None:
        self.bindir = server_bindir()
        self.dir = Path(tempfile.mkdtemp(prefix="sensorfleet-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            account = pwd.getpwnam(USER)
            os.chown(self.dir, account.pw_uid, account.pw_gid)
            self.as_user = ["setpriv", f"--reuid={USER}", f"--regid={USER}", "--init-groups", "--"]
        subprocess.run(
            [*self.as_user, str(self.bindir / "initdb"), "-D", str(self.data), "-U", USER,
             "--auth=trust", "-E", "UTF8", "--no-instructions"],
            check=True, capture_output=True,
        )  # fmt: skip
        self.process = Process(
            [*self.as_user, str(self.bindir / "postgres"), "-D", str(self.data), "-p", str(self.port),
             "-k", str(self.dir), "-c", "listen_addresses=127.0.0.1"],
            Path(tempfile.gettempdir()) / f"{self.dir.name}.log",
        )  # fmt: skip

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        self.process.start()
        wait_until(self._ready, 30, f"PostgreSQL on port {self.port}")

    def _ready(self) -> bool:
        self.process.check_alive("postgres")
        try:
            with psycopg.connect(self.url(), connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def create_database(self, name: str) -> str:
        """A new empty database; returns its URL."""
        with psycopg.connect(self.url(), autocommit=True) as db:
            db.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self, sig: int = signal.SIGINT) -> None:
        """Fast shutdown (SIGINT): clients are disconnected, as in a restart under load; SIGTERM would
        wait for every pooled connection to close. SIGQUIT skips the shutdown checkpoint."""
        self.process.signal(sig)
        try:
            wait_until(lambda: not self.process.running(), 30, "PostgreSQL to stop")
        finally:
            self.process.stop(timeout=30)

    def close(self) -> None:
        self.stop(signal.SIGQUIT)  # its data is removed next: nothing to write back first
        shutil.rmtree(self.dir, ignore_errors=True)
        Path(self.process.log).unlink(missing_ok=True)
