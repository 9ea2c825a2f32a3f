"""What a worker reports on every heartbeat."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class WorkerBeat:
    """One heartbeat of one worker process.

    The worker runtime upserts the same facts into the PostgreSQL ``workers``
    table (the rescuer's truth); the status cache keeps this copy in Redis with
    a TTL, plus a short memory history the table has no room for.
    """

    worker_id: str
    host: str
    pid: int
    queues: tuple[str, ...]
    state: str
    current_job_id: int | None
    rss_bytes: int
    cpu_percent: float
    jobs_done: int
    jobs_failed: int
    prefetch_in_flight: int
