"""A fleet: one headless engine per network-namespace host, against the shared services.

Each host's engine is ``python -m queueconsole engine`` started with ``ip netns exec``
so it and its worker processes live in that host's namespace and reach PostgreSQL,
RabbitMQ and Redis only through the forwarders on its link (:mod:`bench.netns`). It
calls itself by the host's name (``--host-name``), which is what its workers register
under and what ``scale --host`` targets. The harness itself stays in the root namespace
and talks to the services on 127.0.0.1: an observer the partition never cuts off.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psutil
from sqlalchemy import text

from bench.netns import Host, Network
from engine.config import Settings, to_environ
from engine.db.database import Database

REPO = Path(__file__).resolve().parents[2]
POLL_S = 0.2  # seconds between looks at the database while waiting
READY_TIMEOUT_S = 120.0  # seconds for a host's workers to register and heartbeat
STOP_EXTRA_S = 20.0  # seconds beyond the drain grace before an engine is killed
AMQP_HEARTBEAT_S = 10
"""The broker drops a host's connection after about two of these without traffic, so a
partitioned host's prefetched messages go back to the queue for the others."""
SERVICE_PORTS = {"database_url": 5432, "amqp_url": 5672, "redis_url": 6379}

_READY = text(
    "SELECT count(*) FROM workers WHERE host = :host AND stopped_at IS NULL "
    "AND state <> 'starting' AND heartbeat_at > now() - interval '10 seconds'"
)


def over_link(settings: Settings, host: Host, amqp_url: str | None = None) -> Settings:
    """``settings`` as seen from ``host``: every service at its link's forwarder (the
    broker at ``amqp_url`` instead when given: a cluster node the host reaches directly)."""

    def moved(url: str, extra_query: str = "") -> str:
        parts = urlsplit(url)
        netloc = parts.netloc.rsplit("@", 1)
        hostport = netloc[-1]
        port = hostport.rsplit(":", 1)[1] if ":" in hostport else ""
        new = f"{host.outer_ip}:{port}" if port else host.outer_ip
        netloc[-1] = new
        query = "&".join(q for q in (parts.query, extra_query) if q)
        return urlunsplit((parts.scheme, "@".join(netloc), parts.path, query, parts.fragment))

    return settings.evolve(
        database_url=moved(settings.database_url),
        amqp_url=amqp_url or moved(settings.amqp_url, f"heartbeat={AMQP_HEARTBEAT_S}"),
        redis_url=moved(settings.redis_url),
        host_name=host.name,
    )


def service_ports(settings: Settings) -> list[int]:
    """The ports of the configured services (forwarders listen on the same ones)."""
    ports = []
    for name, default in SERVICE_PORTS.items():
        port = urlsplit(getattr(settings, name)).port
        ports.append(port or default)
    return ports


@dataclass(frozen=True, slots=True)
class EngineFlags:
    """The ``queueconsole engine`` flags every host's engine runs with."""

    queue: str = "hosts"
    workers: int = 2
    prefetch: int = 1
    heartbeat_timeout_s: float = 5.0
    reconcile_after_s: float = 2.0
    grace_s: float = 5.0

    def argv(self, host: Host) -> list[str]:
        return [
            "engine",
            "--host-name",
            host.name,
            "--queues",
            self.queue,
            "--workers",
            str(self.workers),
            "--prefetch",
            str(self.prefetch),
            "--heartbeat-timeout-s",
            repr(self.heartbeat_timeout_s),
            "--reconcile-after-s",
            repr(self.reconcile_after_s),
            "--grace-s",
            repr(self.grace_s),
        ]


class HostEngine:
    """One host's engine process (and, through it, its workers)."""

    def __init__(
        self,
        host: Host,
        settings: Settings,
        flags: EngineFlags,
        log_path: Path,
        amqp_url: str | None = None,
    ) -> None:
        self.host = host
        self.settings = over_link(settings, host, amqp_url)
        self.flags = flags
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        argv = self.host.command(
            [sys.executable, "-m", "queueconsole", *self.flags.argv(self.host)]
        )
        env = {**os.environ, **to_environ(self.settings), "PYTHONUNBUFFERED": "1"}
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                argv,
                cwd=REPO,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: destroy() reaches every worker
            )

    async def wait_ready(self, db: Database, workers: int | None = None) -> None:
        """Until ``workers`` (default: the flags') of this host heartbeat."""
        want = self.flags.workers if workers is None else workers
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    f"engine on {self.host.name} exited ({self.process.returncode}):\n"
                    + self.log_tail()
                )
            async with db.connection() as conn:
                ready = int(await conn.scalar(_READY, {"host": self.host.name}) or 0)
            if ready >= want:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{self.host.name}: {ready} of {want} workers ready after "
                    f"{READY_TIMEOUT_S:g} s:\n{self.log_tail()}"
                )
            await asyncio.sleep(POLL_S)

    def tree(self) -> list[psutil.Process]:
        """The engine process and every worker under it."""
        if self.process is None:
            return []
        try:
            root = psutil.Process(self.process.pid)
            return [root, *root.children(recursive=True)]
        except psutil.Error:
            return []

    async def stop(self) -> None:
        """SIGTERM (the engine drains), then kill whatever is left after the grace."""
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            await asyncio.to_thread(proc.wait, self.flags.grace_s + STOP_EXTRA_S)
        self.destroy()

    def destroy(self) -> None:
        """Kill the engine's whole process group at once. Idempotent."""
        proc = self.process
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


class Fleet:
    """Engines on the first ``count`` hosts of a network; stopped with :meth:`stop`.

    Args:
        network: the hosts (created, forwarders running).
        settings: the installation, as the root namespace reaches it (127.0.0.1).
        count: how many hosts get an engine.
        flags: the engines' flags.
        log_dir: where each engine's output goes (``<host>.log``).
        amqp_urls: the broker each host's engine uses, by host name (a cluster node);
            the shared broker through the host's forwarder when absent.
    """

    def __init__(
        self,
        network: Network,
        settings: Settings,
        count: int,
        flags: EngineFlags,
        log_dir: Path,
        amqp_urls: dict[str, str] | None = None,
    ) -> None:
        self.network = network
        urls = amqp_urls or {}
        self.engines = [
            HostEngine(h, settings, flags, log_dir / f"{h.name}.log", urls.get(h.name))
            for h in network.hosts[:count]
        ]

    async def start(self, db: Database) -> None:
        """Start every engine, then wait for all their workers; on failure, stop them."""
        try:
            for engine in self.engines:
                engine.start()
            for engine in self.engines:
                await engine.wait_ready(db)
        except BaseException:
            self.destroy()
            raise

    async def stop(self) -> None:
        """Drain every engine (in parallel)."""
        await asyncio.gather(*(e.stop() for e in self.engines))

    def destroy(self) -> None:
        for engine in self.engines:
            engine.destroy()

    def engine(self, name: str) -> HostEngine:
        for engine in self.engines:
            if engine.host.name == name:
                return engine
        raise KeyError(name)

    def trees(self) -> list[psutil.Process]:
        return [p for e in self.engines for p in e.tree()]


def processes_named(names: Sequence[str]) -> list[psutil.Process]:
    """Every process whose name is one of ``names`` (the services' servers)."""
    found = []
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] in names:
            found.append(proc)
    return found


def postgres_backends(database: str) -> list[psutil.Process]:
    """The PostgreSQL backends serving ``database``: its share of the server's CPU, told
    apart from the other databases' by the process title (``postgres: user DB …``)."""
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if proc.info["name"] == "postgres" and cmdline and f" {database} " in f"{cmdline[0]} ":
            found.append(proc)
    return found


class CpuMeter:
    """CPU seconds a group of processes used between :meth:`start` and :meth:`read`.

    Processes are sampled at both ends; one that started in between counts from zero,
    one that ended in between is missed (its time goes to its parent only if reaped).
    """

    def __init__(self) -> None:
        self._start: dict[int, float] = {}

    @staticmethod
    def _sample(procs: Sequence[psutil.Process]) -> dict[int, float]:
        times: dict[int, float] = {}
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                t = proc.cpu_times()
                times[proc.pid] = t.user + t.system
        return times

    def start(self, procs: Sequence[psutil.Process]) -> None:
        self._start = self._sample(procs)

    def read(self, procs: Sequence[psutil.Process]) -> float:
        now = self._sample(procs)
        return sum(max(0.0, t - self._start.get(pid, 0.0)) for pid, t in now.items())
