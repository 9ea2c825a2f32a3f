"""A private Redis in ``state_dir/redis``, on 127.0.0.1 only, configured as a cache.

The engine treats Redis as a cache of state that lives in PostgreSQL, so by
default nothing is written to disk (no RDB snapshots, no append-only file)
and the eviction policy is ``allkeys-lru``: a full cache drops old keys
rather than failing writes on the job path.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from localservices.binaries import INSTALL_HINTS, find_redis
from localservices.probe import redis_command
from localservices.server import LOOPBACK, PrivateServer, clean_environment

EVICTION_POLICIES = frozenset(
    {
        "noeviction",
        "allkeys-lru",
        "allkeys-lfu",
        "allkeys-random",
        "volatile-lru",
        "volatile-lfu",
        "volatile-random",
        "volatile-ttl",
    }
)


class PrivateRedis(PrivateServer):
    """A redis-server of our own; stop, flush and restart it freely.

    Args:
        state_dir: the state directory; Redis works in ``<state_dir>/redis``.
        port: the TCP port on 127.0.0.1; a free one is chosen when ``None``.
        maxmemory: the memory cap (bytes, or Redis units such as ``"64mb"``); none when ``None``.
        policy: what Redis evicts when the cap is reached.
        persistent: keep data across restarts in an append-only file (off: it is a cache).
        extra_args: more ``redis-server`` arguments (``"--hz", "50"`` …).
        redis_server: the binary to run (found on ``PATH`` when ``None``).
    """

    service: ClassVar[str] = "Redis"
    key: ClassVar[str] = "redis"
    default_start_timeout_s: ClassVar[float] = 30.0

    def __init__(
        self,
        state_dir: str | os.PathLike[str],
        port: int | None = None,
        maxmemory: int | str | None = None,
        policy: str = "allkeys-lru",
        *,
        persistent: bool = False,
        extra_args: Sequence[str] = (),
        redis_server: Path | None = None,
    ) -> None:
        super().__init__(state_dir, port)
        if policy not in EVICTION_POLICIES:
            raise self._error(
                f"unknown eviction policy {policy!r}; one of {', '.join(sorted(EVICTION_POLICIES))}"
            )
        self.maxmemory = maxmemory
        self.policy = policy
        self.persistent = persistent
        self.extra_args = tuple(extra_args)
        self._redis_server = redis_server

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``."""
        return self.url_for(0)

    def url_for(self, db: int) -> str:
        """The URL of logical database ``db`` on this server."""
        return f"redis://{LOOPBACK}:{self.port}/{db}"

    def flushall(self) -> None:
        """Empty every database, as the chaos harness's "Redis lost everything" does."""
        reply = self.command("FLUSHALL")
        if reply != b"+OK":
            raise self._error(f"FLUSHALL answered {reply.decode(errors='replace')}")

    def command(self, *args: str) -> bytes:
        """Send one command and return the raw first line of the reply (``+PONG``, ``:3`` …)."""
        try:
            return redis_command(self.port, *args)
        except OSError as exc:
            raise self._error(f"{args[0] if args else 'command'} failed: {exc}") from None

    # -- PrivateServer -------------------------------------------------------

    def _prepare(self) -> None:
        if self._redis_server is None:
            self._redis_server = find_redis()
            if self._redis_server is None:
                raise self._error(f"redis-server is not installed; {INSTALL_HINTS['redis']}")

    def _launch(self) -> subprocess.Popen[bytes]:
        argv = [
            str(self._redis_server),
            "--port",
            str(self.port),
            "--bind",
            LOOPBACK,
            "--protected-mode",
            "yes",
            "--daemonize",
            "no",
            "--logfile",
            "",
            "--dir",
            str(self.directory),
            "--save",
            "",
            "--appendonly",
            "yes" if self.persistent else "no",
            "--maxmemory-policy",
            self.policy,
        ]
        if self.maxmemory is not None:
            argv += ["--maxmemory", str(self.maxmemory)]
        argv += self.extra_args
        return self._popen(argv, clean_environment(()))

    def _ready(self) -> bool:
        try:
            return redis_command(self.port, "PING", timeout_s=1.0) == b"+PONG"
        except OSError:
            return False

    def _ask_to_stop(self, fast: bool) -> None:
        """SIGTERM: Redis exits at once (with nothing to save) or after syncing its AOF."""
        if self._process is not None:
            os.kill(self._process.pid, signal.SIGTERM)
