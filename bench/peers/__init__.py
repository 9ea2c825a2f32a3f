"""The peers we measure ourselves against, as data, and the apps that run them.

Everything under ``bench.peers`` imports only the peer's own package (Celery or
Dramatiq), ``redis`` and ``pika``: these modules run in worker and producer
subprocesses that must not pay for importing the engine, or the comparison
would charge the peers for our imports.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Peer:
    """One peer configuration; the worker and producer subprocesses read it by ``key``."""

    key: str
    """Name on the command line (``--peers``) and in ``BENCH_PEER`` for the subprocesses."""
    family: str
    """``celery`` or ``dramatiq``: which app module and worker command."""
    system: str
    """The system column of the table."""
    configuration: str
    """The configuration column of the table (for 2 worker processes)."""
    acks_late: bool = False
    """Celery: acknowledge after the task ran (survives a worker crash)."""
    prefetch_multiplier: int = 4
    """Celery: messages prefetched per pool process."""
    confirm: bool = False
    """Publisher confirms: the producer waits for RabbitMQ to take each message."""
    slow: bool = False
    """Runs end to end with fewer jobs by default (``--slow-n``), to keep the suite short."""

    @property
    def package(self) -> str:
        """The distribution the peer needs in this interpreter."""
        return self.family

    def available(self) -> bool:
        """Whether the peer's package is importable here (the ``bench`` extra)."""
        return importlib.util.find_spec(self.package) is not None


PEERS: dict[str, Peer] = {
    p.key: p
    for p in (
        Peer(
            "celery-reliable",
            "celery",
            "Celery / RabbitMQ",
            "reliable: acks_late, prefetch 1, prefork 2",
            acks_late=True,
            prefetch_multiplier=1,
            slow=True,
        ),
        Peer(
            "celery-default",
            "celery",
            "Celery / RabbitMQ",
            "defaults: early ack, prefork 2",
            slow=True,
        ),
        Peer(
            "celery-confirm",
            "celery",
            "Celery / RabbitMQ",
            "reliable + publisher confirms, prefork 2",
            acks_late=True,
            prefetch_multiplier=1,
            confirm=True,
            slow=True,
        ),
        Peer("dramatiq", "dramatiq", "Dramatiq / RabbitMQ", "2 processes x 8 threads, no confirms"),
        Peer(
            "dramatiq-confirm",
            "dramatiq",
            "Dramatiq / RabbitMQ",
            "2 processes x 8 threads, confirm_delivery",
            confirm=True,
        ),
    )
}
"""Every peer configuration the suite knows."""

DEFAULT_PEERS = ("celery-reliable", "celery-default", "dramatiq")
"""What the issue asks for; the ``-confirm`` variants are there for a like-for-like look."""

LIGHT_PEERS = ("celery-reliable", "dramatiq")
"""One configuration per peer where the configuration does not matter (latency at light
load, baseline memory, publishing with no worker running)."""


def worker_command(
    peer: Peer, python: str, processes: int, queue: str, *, threads: int | None = None
) -> list[str]:
    """The peer's own worker command line for ``processes`` worker processes on ``queue``;
    ``threads`` per process for Dramatiq (None: its default, 8)."""
    if peer.family == "celery":
        return [
            python,
            "-m",
            "celery",
            "--app",
            "bench.peers.celery_app",
            "worker",
            "--queues",
            queue,
            "--concurrency",
            str(processes),
            "--pool",
            "prefork",
            "--hostname",
            f"{queue}@localhost",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel",
            "WARNING",
        ]
    return [
        python,
        "-m",
        "dramatiq",
        "bench.peers.dramatiq_app",
        "--processes",
        str(processes),
        "--queues",
        queue,
        *(() if threads is None else ("--threads", str(threads))),
    ]


def consumers_expected(peer: Peer, processes: int) -> int:
    """How many consumers the worker opens on its queue once it is ready: Celery's main
    process consumes for its whole pool, each Dramatiq process consumes for itself."""
    return 1 if peer.family == "celery" else processes
