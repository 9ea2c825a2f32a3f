"""Private servers for tests that stop, flush, kill or reconfigure one.

Built on :mod:`localservices`, so a test never touches the machine's
shared servers. PostgreSQL and Redis start in about a second, so a test gets
its own (:func:`private_postgres`, :func:`private_redis`); a RabbitMQ node
takes several seconds to boot, so one serves the whole session
(:func:`private_rabbitmq`) and a test that stops or kills it starts it again.

A missing server binary skips the test on a laptop and fails it in CI
(``CI=true``), where it means the set-up is broken.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import psutil
import pytest

from localservices import (
    LocalStack,
    PrivatePostgres,
    PrivateRabbitMQ,
    PrivateRedis,
    PrivateServer,
    clean_crashed,
    locate_binaries,
    probe_all,
)
from localservices.binaries import INSTALL_HINTS
from localservices.server import PIDS_FILE
from tests.support.services import CI, base_settings

SESSION_CONSUMER_TIMEOUT_MS = 600_000
"""The session node's consumer timeout: set through its config file (so that path is
exercised) yet longer than any test holds a message. A test that wants the timeout to
fire lowers it with ``set_consumer_timeout`` and restores this value."""


def require(*keys: str) -> None:
    """Skip the test (fail it in CI) unless the servers named (``postgres``, ``redis``,
    ``rabbitmq``) are installed."""
    binaries = locate_binaries()
    missing = [key for key in keys if not binaries.has(key)]
    if missing:
        message = "; ".join(INSTALL_HINTS[key] for key in missing)
        if CI:
            pytest.fail(f"server binaries missing in CI: {message}")
        pytest.skip(f"server binaries missing: {message}")


@contextmanager
def state_dir(prefix: str = "qc-private-") -> Iterator[Path]:
    """A fresh state directory under the system temporary directory, removed afterwards.

    Not pytest's ``tmp_path``: that lives under ``/tmp/pytest-of-root`` (mode
    0700) when we are root, where the account PostgreSQL runs as cannot go.
    """
    sweep_crashed_runs()
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o711)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextmanager
def private_postgres(**kwargs: Any) -> Iterator[PrivatePostgres]:
    """A running private PostgreSQL (fsync off unless asked), removed afterwards."""
    require("postgres")
    kwargs.setdefault("fsync", False)
    with state_dir("qc-postgres-") as d, PrivatePostgres(d, **kwargs) as server:
        yield server


@contextmanager
def private_redis(*extra: str, **kwargs: Any) -> Iterator[PrivateRedis]:
    """A running private Redis; ``extra`` are more ``redis-server`` arguments."""
    require("redis")
    with state_dir("qc-redis-") as d, PrivateRedis(d, extra_args=extra, **kwargs) as server:
        yield server


@contextmanager
def local_stack(**kwargs: Any) -> Iterator[LocalStack]:
    """A running :class:`LocalStack` (PostgreSQL and Redis unless asked; fsync off)."""
    kwargs.setdefault("rabbitmq", False)
    kwargs.setdefault("fsync", False)
    require(*(key for key in ("postgres", "redis", "rabbitmq") if kwargs.get(key, True)))
    with state_dir("qc-stack-") as d, LocalStack(d, **kwargs) as stack:
        yield stack


PREFIXES = ("qc-private-", "qc-postgres-", "qc-redis-", "qc-stack-", "qc-rabbitmq-")
"""Prefixes of the temporary state directories made here (and swept after crashed runs)."""

_session_lock = threading.Lock()
_session_stack: LocalStack | None = None
_session_dir: Path | None = None
_swept = False


def sweep_crashed_runs() -> None:
    """Remove what test runs killed outright (SIGKILL, a lost CI job) left in the temp dir.

    Only directories no live run holds: their servers are killed, then the
    directories removed. Runs concurrently with other test runs safely.
    """
    global _swept
    if _swept:
        return
    _swept = True
    for prefix in PREFIXES:
        for path in Path(tempfile.gettempdir()).glob(f"{prefix}*"):
            if not any(path.glob(f"*/{PIDS_FILE}")):
                continue  # being set up, or left empty: not ours to judge
            if clean_crashed(path) is not None:
                shutil.rmtree(path, ignore_errors=True)


def session_rabbitmq() -> PrivateRabbitMQ:
    """The one private RabbitMQ node of this test process, started on first use.

    One per process even if the fixture below is imported by several
    conftests; stopped by the fixture at the end of the session, or at exit,
    or when the run is terminated (SIGTERM/SIGHUP: it runs in a LocalStack).
    """
    global _session_stack, _session_dir
    with _session_lock:
        if _session_stack is None:
            sweep_crashed_runs()
            _session_dir = Path(tempfile.mkdtemp(prefix="qc-rabbitmq-"))
            _session_dir.chmod(0o711)
            _session_stack = LocalStack(
                _session_dir,
                postgres=False,
                redis=False,
                consumer_timeout_ms=SESSION_CONSUMER_TIMEOUT_MS,
            )
            _session_stack.start()
            atexit.register(stop_session_rabbitmq)
        stack = _session_stack
    assert stack.rabbitmq is not None
    stack.rabbitmq.start()  # a no-op while it runs; brings it back after a test stopped it
    return stack.rabbitmq


def stop_session_rabbitmq() -> None:
    """Stop the session node and remove its directory (idempotent)."""
    global _session_stack, _session_dir
    with _session_lock:
        stack, directory = _session_stack, _session_dir
        _session_stack = _session_dir = None
    if stack is not None:
        stack.close()
    if directory is not None:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def private_rabbitmq_session() -> Iterator[PrivateRabbitMQ]:
    """The session's private RabbitMQ node, stopped at the end of the session."""
    require("rabbitmq")
    yield session_rabbitmq()
    stop_session_rabbitmq()


@pytest.fixture
def private_rabbitmq(private_rabbitmq_session: PrivateRabbitMQ) -> PrivateRabbitMQ:
    """The session's node, running (restarted if an earlier test stopped or killed it)."""
    return session_rabbitmq()


# -- checks --------------------------------------------------------------------------


def processes_of(server: PrivateServer | LocalStack) -> list[psutil.Process]:
    """Every live process of a server or stack, to check later that none survived."""
    servers = server.servers if isinstance(server, LocalStack) else (server,)
    found = []
    for s in servers:
        for pid in s.pids():
            with suppress(psutil.NoSuchProcess):
                found.append(psutil.Process(pid))
    return found


def survivors(processes: list[psutil.Process]) -> list[psutil.Process]:
    """Those of ``processes`` still running (same pid *and* start time: not a recycled pid)."""
    alive = []
    for proc in processes:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(proc)
        except psutil.NoSuchProcess:
            pass
    return alive


def listening_addresses(processes: list[psutil.Process]) -> set[str]:
    """The IP addresses ``processes`` listen on (all loopback for a private server)."""
    pids = {p.pid for p in processes}
    return {
        c.laddr.ip
        for c in psutil.net_connections(kind="inet")
        if c.pid in pids and c.status == psutil.CONN_LISTEN
    }


def shared_services_answer() -> dict[str, bool]:
    """Whether the machine's shared PostgreSQL, Redis and RabbitMQ still answer."""
    return {key: probe.ok for key, probe in probe_all(base_settings(), timeout_s=2.0).items()}


def shared_epmd_names() -> str:
    """What the machine's epmd (port 4369) lists: its node, never ours."""
    epmd = shutil.which("epmd")
    if epmd is None:
        return ""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ERL_")}
    done = subprocess.run([epmd, "-names"], capture_output=True, text=True, env=env, check=False)
    return done.stdout
