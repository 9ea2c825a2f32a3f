"""Store operations of worker processes: registration, beats, rescue, deferral, logs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from engine.db.connection import Connection
from engine.queries.jobs import (
    JOB_DEFER_MANY,
    JOB_MARK_STARTED,
    JOB_NOT_MINE,
    JOB_ORPHANED,
    JOB_WAKE_FITTING,
)
from engine.queries.logs import LOG_INSERT_MANY
from engine.queries.workers import (
    WORKER_CAPACITY_LARGEST,
    WORKER_HEARTBEAT,
    WORKER_MARK_LOST,
    WORKER_REGISTER,
    WORKER_STOP,
)
from engine.resources import Capacity
from engine.snapshots import WorkerBeat
from engine.states import State
from engine.store.changes import ChangeSet, Transition
from engine.store.recorder import record
from engine.store.transitions import Failure, fail


async def register_worker(conn: Connection, info: WorkerBeat) -> None:
    """Insert or revive the worker's row (its identity; the figures come with beats)."""
    await conn.execute(
        WORKER_REGISTER,
        {
            "id": info.worker_id,
            "host": info.host,
            "pid": info.pid,
            "queues": list(info.queues),
            "supervisor_id": info.supervisor_id,
            "max_memory_mb": info.max_memory_mb,
            "cpus": info.cpus,
        },
    )


async def heartbeat(conn: Connection, worker_id: str, beat: WorkerBeat) -> bool:
    """Record a heartbeat; False when the worker was already presumed lost."""
    row = (
        await conn.execute(
            WORKER_HEARTBEAT,
            {
                "id": worker_id,
                "state": beat.state,
                "current_job_id": beat.current_job_id,
                "rss_bytes": beat.rss_bytes,
                "cpu_percent": beat.cpu_percent,
                "jobs_done": beat.jobs_done,
                "jobs_failed": beat.jobs_failed,
                "cpu_requested": beat.cpu_requested,
                "memory_requested_mb": beat.memory_requested_mb,
            },
        )
    ).first()
    return row is not None


async def largest_capacity(conn: Connection, queue: str) -> Capacity:
    """The largest cores and memory live workers of ``queue`` offer."""
    row = (await conn.execute(WORKER_CAPACITY_LARGEST, {"queue": queue})).first()
    if row is None:
        return Capacity(0, None, None)
    return Capacity(
        workers=int(row.workers),
        cpus=row.cpus,
        memory_mb=row.memory_mb,
        memory_unlimited=bool(row.memory_unlimited),
    )


async def wake_fitting(
    conn: Connection, queues: Sequence[str], cpus: float, memory_mb: int | None
) -> int:
    """Make due now the jobs that waited for a worker this big; how many there were."""
    rows = (
        await conn.execute(
            JOB_WAKE_FITTING,
            {"queues": list(queues), "cpus": cpus, "memory_mb": memory_mb},
        )
    ).all()
    return len(rows)


async def mark_started(conn: Connection, job_id: int, attempt: int) -> None:
    """A held run starts now (its timeout counts from here, not from its claim)."""
    await conn.execute(JOB_MARK_STARTED, {"id": job_id, "attempt": attempt})


async def stop_worker(conn: Connection, worker_id: str, state: str = "stopped") -> None:
    """Mark the worker as gone."""
    await conn.execute(WORKER_STOP, {"id": worker_id, "state": state})


async def not_mine(conn: Connection, runs: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Of (job id, attempt) runs, those this worker no longer owns."""
    if not runs:
        return []
    rows = await conn.execute(
        JOB_NOT_MINE, {"ids": [r[0] for r in runs], "attempts": [r[1] for r in runs]}
    )
    return [(r.id, r.attempt) for r in rows]


async def rescue(
    conn: Connection,
    *,
    heartbeat_timeout_s: float,
    timeout_grace_s: float,
    limit: int = 500,
    judge_heartbeats: bool = True,
) -> ChangeSet:
    """Fail the runs whose worker stopped heart-beating, or that outran their timeout.

    A lost run counts as an attempt: a job that kills its worker every time
    must end FAILED, not loop forever. Its retry policy applies as usual.
    With ``judge_heartbeats`` off no worker is newly presumed lost (the runs of
    workers already stopped or lost, and timeouts, are still rescued).
    """
    if judge_heartbeats:
        await conn.execute(WORKER_MARK_LOST, {"after_s": heartbeat_timeout_s})
    rows = (
        await conn.execute(
            JOB_ORPHANED,
            {"grace_s": timeout_grace_s, "min_age_s": 0.0, "limit": limit},
        )
    ).all()
    failures = []
    for r in rows:
        if r.why == "lost":
            failures.append(
                Failure(
                    r.id,
                    r.attempts,
                    "WorkerLost",
                    f"worker {r.worker_id} stopped heart-beating while running attempt "
                    f"{r.attempts}",
                    fingerprint="WorkerLost",
                )
            )
        else:
            failures.append(
                Failure(
                    r.id,
                    r.attempts,
                    "JobTimeout",
                    f"ran past its timeout of {r.timeout_s:g} s and its worker did not stop it",
                    fingerprint="JobTimeout",
                )
            )
    return await fail(conn, failures)


async def defer(
    conn: Connection,
    runs: Sequence[tuple[int, int]],
    *,
    delay_s: float,
    reason: str,
    worker_id: str | None,
) -> ChangeSet:
    """Put claimed runs back to RETRYING after ``delay_s`` without spending an attempt."""
    changes = ChangeSet()
    if not runs:
        return changes
    rows = (
        await conn.execute(
            JOB_DEFER_MANY,
            {
                "ids": [r[0] for r in runs],
                "attempts": [r[1] for r in runs],
                "delay_s": delay_s,
                "reason": reason,
            },
        )
    ).all()
    for r in rows:
        changes.transitions.append(
            Transition.of_row(
                r,
                State.RUNNING,
                State.RETRYING,
                worker_id,
                reason,
            )
        )
    await record(conn, changes.transitions)
    return changes


async def insert_logs(
    conn: Connection, lines: Sequence[tuple[int, int, datetime, str, str]]
) -> None:
    """Insert handler log lines: (job id, attempt, at, level, message)."""
    if not lines:
        return
    await conn.execute(
        LOG_INSERT_MANY,
        {
            "job_ids": [line[0] for line in lines],
            "attempts": [line[1] for line in lines],
            "ats": [line[2] for line in lines],
            "levels": [line[3] for line in lines],
            "messages": [line[4] for line in lines],
        },
    )
