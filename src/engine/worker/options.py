"""How one worker process behaves: its options and their defaults.

Apart from :mod:`engine.worker.process` so that what only parses or passes them on
(``queueconsole worker``'s flags, the supervisor, every command's parser) does not
import the worker itself: its broker consumer, executor and psutil.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    worker_id: str | None = None
    supervisor_id: str | None = None
    supervisor_pid: int | None = None
    """The supervisor's pid, passed on the command line: read with ``getppid()`` at start-up
    it would already be 1 for a worker whose supervisor died while it was still starting."""
    heartbeat_s: float = 1.0
    grace_s: float = 30.0
    interrupt_grace_s: float = 2.0
