"""The three private servers as one unit that never outlives the process that owns it.

Every way the owner can end stops the servers: :meth:`LocalStack.close`,
leaving a ``with`` block, normal interpreter exit (``atexit``), ``SIGTERM``
and ``SIGHUP`` (the terminal of an SSH session closing: our servers run in
their own sessions, so the kernel's hang-up reaches only us). What no
handler can see — ``SIGKILL``, a power cut — is cleaned up by the next start
on the same state directory (see :mod:`localservices.server`).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import signal
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

from engine.config import Settings
from localservices.binaries import Binaries
from localservices.postgres import PrivatePostgres
from localservices.rabbitmq import PrivateRabbitMQ
from localservices.redis import PrivateRedis
from localservices.server import PrivateServer

log = logging.getLogger(__name__)

EXIT_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
"""Signals on which the owning process stops its stacks before going on as it would have."""


class LocalStack:
    """Private PostgreSQL, Redis and RabbitMQ (any of them) under one state directory.

    Args:
        state_dir: where each server keeps its data (``postgres/``, ``redis/``, ``rabbitmq/``).
        postgres, redis, rabbitmq: which servers to run.
        consumer_timeout_ms: RabbitMQ's consumer timeout (see :class:`PrivateRabbitMQ`).
        fsync: whether PostgreSQL flushes to disk (see :class:`PrivatePostgres`).
        redis_maxmemory: the Redis memory cap (bytes or ``"64mb"``); none when ``None``.
        binaries: the installations to use (found on this machine when ``None``).
    """

    def __init__(
        self,
        state_dir: str | os.PathLike[str],
        *,
        postgres: bool = True,
        redis: bool = True,
        rabbitmq: bool = True,
        consumer_timeout_ms: int | None = None,
        fsync: bool = True,
        redis_maxmemory: int | str | None = None,
        binaries: Binaries | None = None,
    ) -> None:
        self.state_dir = Path(state_dir).absolute()
        self.postgres: PrivatePostgres | None = None
        """The private PostgreSQL, when requested."""
        self.redis: PrivateRedis | None = None
        """The private Redis, when requested."""
        self.rabbitmq: PrivateRabbitMQ | None = None
        """The private RabbitMQ, when requested."""
        if postgres:
            self.postgres = PrivatePostgres(
                self.state_dir, fsync=fsync, binaries=binaries.postgres if binaries else None
            )
        if redis:
            self.redis = PrivateRedis(
                self.state_dir,
                maxmemory=redis_maxmemory,
                redis_server=binaries.redis_server if binaries else None,
            )
        if rabbitmq:
            self.rabbitmq = PrivateRabbitMQ(
                self.state_dir,
                consumer_timeout_ms=consumer_timeout_ms,
                binaries=binaries.rabbitmq if binaries else None,
            )

    @property
    def servers(self) -> tuple[PrivateServer, ...]:
        """The requested servers, PostgreSQL first."""
        return tuple(s for s in (self.postgres, self.redis, self.rabbitmq) if s is not None)

    def start(self, timeout_s: float | None = None) -> Self:
        """Start every requested server at once; return when all accept connections.

        If any fails, the others are stopped again and its
        :class:`LocalServiceError` is raised: nothing is left half-started.
        """
        self.state_dir.mkdir(parents=True, exist_ok=True)
        _register(self)
        servers = self.servers
        with ThreadPoolExecutor(
            max_workers=max(1, len(servers)), thread_name_prefix="local"
        ) as pool:
            futures = [pool.submit(server.start, timeout_s) for server in servers]
        errors = [e for e in (f.exception() for f in futures) if e is not None]
        if errors:
            self.close()
            for extra in errors[1:]:
                log.error("%s", extra)
            raise errors[0]
        return self

    def settings(self, base: Settings) -> Settings:
        """``base`` with the URL of every private server swapped in.

        The database keeps its name (``migrate`` creates it on the private
        server), Redis keeps its database number; RabbitMQ uses the default
        vhost, the only one a fresh node has.
        """
        changes: dict[str, Any] = {}
        if self.postgres is not None:
            changes["database_url"] = self.postgres.url_for(base.database_name)
        if self.redis is not None:
            changes["redis_url"] = self.redis.url_for(_redis_db(base.redis_url))
        if self.rabbitmq is not None:
            changes["amqp_url"] = self.rabbitmq.url
        return base.evolve(**changes)

    def close(self) -> None:
        """Stop every server (at once) and free the state directory. Idempotent."""
        servers = self.servers
        with ThreadPoolExecutor(
            max_workers=max(1, len(servers)), thread_name_prefix="local"
        ) as pool:
            futures = [pool.submit(server.stop) for server in servers]
        _unregister(self)
        for future in futures:
            error = future.exception()
            if error is not None:
                log.error("stopping a private server failed: %s", error)

    def stop(self) -> None:
        """Same as :meth:`close`."""
        self.close()

    def describe(self) -> list[str]:
        """One line per server: what, where, how long it took to start."""
        lines = []
        for server in self.servers:
            took = f" (started in {server.last_start_s:.1f} s)" if server.last_start_s else ""
            state = f"pid {server.pid}" if server.is_running else "stopped"
            lines.append(
                f"{server.service}: {server.url}, {state}, data in {server.directory}{took}"
            )
        return lines

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<LocalStack {self.state_dir} {[s.service for s in self.servers]}>"


def _redis_db(url: str) -> int:
    parts = urlsplit(url)
    number = parts.path.strip("/") or dict(parse_qsl(parts.query)).get("db", "0")
    return int(number) if number.isdigit() else 0


# -- never outliving the owner ------------------------------------------------------

_live: list[LocalStack] = []
_live_lock = threading.Lock()
_hooks_installed = False
_previous_handlers: dict[int, Callable[[int, FrameType | None], Any] | int | None] = {}


def _register(stack: LocalStack) -> None:
    global _hooks_installed
    with _live_lock:
        if stack not in _live:
            _live.append(stack)
        if _hooks_installed:
            return
        _hooks_installed = True
    atexit.register(close_all)
    if threading.current_thread() is not threading.main_thread():
        log.debug("private servers started off the main thread: no signal handlers installed")
        return
    for sig in EXIT_SIGNALS:
        previous = signal.getsignal(sig)
        if previous is signal.SIG_IGN:
            continue  # the owner chose to survive this signal (nohup): so do its servers
        _previous_handlers[sig] = previous
        signal.signal(sig, _on_exit_signal)


def _unregister(stack: LocalStack) -> None:
    with _live_lock, contextlib.suppress(ValueError):
        _live.remove(stack)


def close_all() -> None:
    """Stop every stack this process started and has not closed (atexit and signals)."""
    with _live_lock:
        stacks = list(reversed(_live))
    for stack in stacks:
        try:
            stack.close()
        except Exception:  # one stack's failure must not keep the others running
            log.exception("stopping %r failed", stack)


def _on_exit_signal(signum: int, frame: FrameType | None) -> None:
    """Stop the servers, then do what the process would have done without us."""
    close_all()
    previous = _previous_handlers.get(signum)
    if callable(previous):
        previous(signum, frame)
        return
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
