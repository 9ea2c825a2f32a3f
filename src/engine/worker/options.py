"""How one worker process behaves: its options and their defaults.

Apart from :mod:`engine.worker.process` so that what only parses or passes them on
(``queueconsole worker``'s flags, the supervisor, every command's parser) does not
import the worker itself: its broker consumer, executor and psutil.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

DEFAULT_PREFETCH = 200
"""Most messages the broker may hold out to a worker (``--prefetch``). The worker asks
for fewer while its jobs are long (:meth:`~engine.worker.process.Worker._wanted_prefetch`)."""


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    """How one worker process behaves (the ``queueconsole worker`` flags)."""

    queues: tuple[str, ...] = ("default",)
    prefetch: int = DEFAULT_PREFETCH
    concurrency: int = 1
    max_memory_mb: int | None = None
    cpus: float = field(default_factory=lambda: available_cpus())
    """Cores this worker offers its jobs: the sum of the ``cpu`` requests of the jobs it
    runs at once never exceeds it (``--cpus``; default the cores this process may use)."""
    worker_id: str | None = None
    supervisor_id: str | None = None
    supervisor_pid: int | None = None
    """The supervisor's pid, passed on the command line: read with ``getppid()`` at start-up
    it would already be 1 for a worker whose supervisor died while it was still starting."""
    heartbeat_s: float = 1.0
    grace_s: float = 30.0
    interrupt_grace_s: float = 2.0


def available_cpus() -> float:
    """The cores this process may run on (its affinity mask, which containers and
    ``taskset`` narrow), not the machine's count."""
    try:
        return float(len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return float(os.cpu_count() or 1)
