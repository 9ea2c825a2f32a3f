"""The worker's link to the status cache, kept in one place.

A worker runs every job correctly without Redis (the cache logs the outage and
the live views fall back to PostgreSQL); with it, the worker feeds the live
views. This module is the only place that knows how to build the cache's hook.
"""

from __future__ import annotations

from typing import Any

from engine.config import Settings
from engine.hooks import AfterCommit
from engine.status.cache import StatusCache
from engine.store.runtime import Beat


def status_hooks(settings: Settings) -> list[AfterCommit]:
    """The status cache as an after-commit hook."""
    return [StatusCache(settings)]


def worker_beat(
    worker_id: str,
    host: str,
    pid: int,
    queues: tuple[str, ...],
    beat: Beat,
    *,
    prefetch_in_flight: int,
) -> Any:
    """The status cache's heartbeat record for one worker."""
    from engine.status.cache import WorkerBeat

    return WorkerBeat(
        worker_id=worker_id,
        host=host,
        pid=pid,
        queues=tuple(queues),
        state=beat.state,
        current_job_id=beat.current_job_id,
        rss_bytes=beat.rss_bytes,
        cpu_percent=beat.cpu_percent,
        jobs_done=beat.jobs_done,
        jobs_failed=beat.jobs_failed,
        prefetch_in_flight=prefetch_in_flight,
    )
