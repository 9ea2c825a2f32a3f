"""Where the test run's services are, and private instances for tests that break them.

Every run gets its own database and namespace (broker names, Redis keys), so
concurrent runs on one machine never see each other. Tests that stop, flush or
reconfigure a server start a private instance of it on a free port instead of
touching the machine's shared one.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from engine.config import Settings, load_settings
from engine.worker.registry import with_demo_jobs

CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
RUN_ID = f"qct_{os.getpid()}_{secrets.token_hex(3)}"


def base_settings() -> Settings:
    """The shared servers: QUEUECONSOLE_* variables or the standard local ports."""
    return load_settings()


def run_settings() -> Settings:
    """This run's settings: its own database and namespace on the shared servers, and
    workers that know the ``demo.*`` job types the tests submit."""
    base = base_settings()
    db_url = base.database_url.rsplit("/", 1)[0] + f"/{RUN_ID}"
    return with_demo_jobs(base.evolve(database_url=db_url, namespace=RUN_ID.replace("_", "-")))


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout_s: float = 30.0) -> None:
    """Block until something accepts connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout_s} s")


@dataclass
class PrivateRedis:
    """A redis-server of our own; stop, flush and restart it freely."""

    port: int
    directory: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, *extra: str) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
                *extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@contextmanager
def private_redis(*extra: str) -> Iterator[PrivateRedis]:
    """A running private Redis, removed afterwards."""
    if shutil.which("redis-server") is None:
        raise RuntimeError("redis-server is not installed; run ./dev test to install it")
    with tempfile.TemporaryDirectory(prefix="qc-redis-") as d:
        server = PrivateRedis(free_port(), Path(d))
        server.start(*extra)
        try:
            yield server
        finally:
            server.stop()
