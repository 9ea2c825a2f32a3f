"""Worker processes: what one reports, and the one shape every view reads.

Two types, because they are two different things:

- :class:`WorkerBeat` is what a worker *reports* about itself (on registration
  and on every heartbeat). The store writes it to PostgreSQL's ``workers``
  row, the status cache keeps it in Redis with a TTL.
- :class:`Worker` is what a *reader* sees: the dashboard (PostgreSQL's row
  plus Redis's live extras), the supervisor's snapshot (its local processes)
  and the console all hand out this one shape. A source fills what it knows
  and leaves the rest at its default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.snapshots.common import iso, rounded


@dataclass(frozen=True, slots=True)
class WorkerBeat:
    """What one worker process reports about itself, at registration and on every beat.

    The worker upserts these facts into the PostgreSQL ``workers`` table (the
    rescuer's truth); the status cache keeps a copy in Redis with a TTL, plus a
    short memory history the table has no room for.
    """

    worker_id: str
    host: str
    pid: int
    queues: tuple[str, ...]
    state: str = "starting"
    current_job_id: int | None = None
    rss_bytes: int = 0
    cpu_percent: float = 0.0
    jobs_done: int = 0
    jobs_failed: int = 0
    prefetch_in_flight: int = 0
    supervisor_id: str | None = None
    """The supervisor that started it (None for a worker started by hand)."""
    max_memory_mb: int | None = None
    """The limit it recycles itself over, if any; also its memory capacity for requests."""
    cpus: float | None = None
    """Cores it offers its jobs' ``cpu`` requests (``--cpus``)."""
    cpu_requested: float = 0.0
    """Sum of the ``cpu`` requests of the jobs it has started and not finished."""
    memory_requested_mb: int = 0
    """Sum of the ``memory_mb`` requests of the jobs it has started and not finished."""


@dataclass(frozen=True, slots=True)
class MemorySample:
    """A worker's resident memory at one moment."""

    at: datetime
    rss_bytes: int


@dataclass(frozen=True, slots=True)
class Worker:
    """One worker process as any view shows it, local or remote.

    The dashboard fills it from PostgreSQL's row and Redis's extras; the
    supervisor fills what it knows of its own processes (no heartbeat figures).
    """

    id: str
    host: str
    pid: int | None
    queues: tuple[str, ...]
    state: str
    current_job_id: int | None = None
    rss_bytes: int | None = None
    cpu_percent: float | None = None
    heartbeat_age_s: float | None = None
    """Seconds since the last heartbeat, by the database clock (None: not known here)."""
    heartbeat_at: datetime | None = None
    """When it last beat, for a source that knows the moment rather than the age."""
    jobs_done: int = 0
    jobs_failed: int = 0
    started_at: datetime | None = None
    stopped_at: datetime | None = None
    max_memory_mb: int | None = None
    cpus: float | None = None
    """Capacity for ``cpu`` requests (None: not known, e.g. a worker older than this field)."""
    cpu_requested: float | None = None
    """What its running jobs requested, in cores (not what they use: see cpu_percent)."""
    memory_requested_mb: int | None = None
    """What its running jobs requested, in MiB (not what it holds: see rss_bytes)."""
    prefetch_in_flight: int | None = None
    memory_history: tuple[MemorySample, ...] = ()
    """Oldest first; empty when Redis is down or the worker never beat into it."""
    local: bool = False
    """Run by the supervisor of this process (the console's embedded engine)."""
    restarts: int = 0
    """Times the supervisor restarted this slot's process (supervisor snapshots only)."""
    last_exit: int | None = None
    """Exit code of the slot's previous process (supervisor snapshots only)."""

    @property
    def live(self) -> bool:
        """Not stopped (it may still be overdue; see ``heartbeat_age_s``)."""
        return self.stopped_at is None

    def to_json(self) -> dict[str, Any]:
        """One element of ``workers`` in ``queueconsole status --json``."""
        return {
            "id": self.id,
            "host": self.host,
            "pid": self.pid,
            "queues": list(self.queues),
            "state": self.state,
            "current_job": self.current_job_id,
            "rss_bytes": self.rss_bytes,
            "cpu_percent": rounded(self.cpu_percent),
            "heartbeat_age_s": rounded(self.heartbeat_age_s),
            "jobs_done": self.jobs_done,
            "jobs_failed": self.jobs_failed,
            "started_at": iso(self.started_at),
            "stopped_at": iso(self.stopped_at),
            "prefetch_in_flight": self.prefetch_in_flight,
            "max_memory_mb": self.max_memory_mb,
            "cpus": rounded(self.cpus),
            "cpu_requested": rounded(self.cpu_requested),
            "memory_requested_mb": self.memory_requested_mb,
            "memory_history": [[iso(m.at), m.rss_bytes] for m in self.memory_history],
        }


@dataclass(frozen=True, slots=True)
class WorkersSection:
    """Live workers and those stopped recently."""

    available: bool
    workers: tuple[Worker, ...] = ()
    error: str | None = None
    extras_available: bool = False
    """Whether Redis's live extras (memory history, in-flight) could be read."""


@dataclass(frozen=True, slots=True)
class SupervisorSnapshot:
    """One supervisor's local processes, per-queue targets and memory budget."""

    supervisor_id: str
    host: str
    targets: Mapping[str, int]
    workers: tuple[Worker, ...]
    memory_budget_mb: int | None
    memory_per_worker_mb: int
    memory_reserved_mb: int
