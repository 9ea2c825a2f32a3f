"""Drive jobs through their states directly on the store, as a worker would."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import text

from engine.db.database import Database
from engine.states import State
from engine.store import transitions
from engine.store.changes import ChangeSet
from engine.store.transitions import Claimed, Failure, Success
from engine.worker.fingerprint import fingerprint

WORKER = "test-worker"


async def state_of(db: Database, job_id: int) -> State:
    async with db.connection() as conn:
        return State(
            await conn.scalar(text("SELECT state FROM jobs WHERE id = :id"), {"id": job_id})
        )


async def attempts_of(db: Database, job_id: int) -> int:
    async with db.connection() as conn:
        return int(
            await conn.scalar(text("SELECT attempts FROM jobs WHERE id = :id"), {"id": job_id})
        )


async def claim(db: Database, job_id: int, attempt: int | None = None) -> Claimed:
    """Claim a queued job with its current attempt (or the one given); it must succeed."""
    if attempt is None:
        attempt = await attempts_of(db, job_id)
    claimed, refused, _ = await db.run(
        lambda conn: transitions.claim(conn, [(job_id, attempt)], WORKER)
    )
    assert [c.id for c in claimed] == [job_id], refused
    return claimed[0]


async def complete(db: Database, job_id: int) -> ChangeSet:
    c = await claim(db, job_id)
    return await db.run(lambda conn: transitions.complete(conn, [Success(job_id, c.attempt)]))


async def fail_once(db: Database, job_id: int, *, retryable: bool = True) -> ChangeSet:
    c = await claim(db, job_id)
    return await db.run(
        lambda conn: transitions.fail(
            conn, [Failure(job_id, c.attempt, "RuntimeError", "boom", retryable=retryable)]
        )
    )


async def requeue_now(db: Database, job_id: int) -> None:
    """Make a RETRYING job due and requeue it (the scheduler's work, minus the wait)."""
    async with db.transaction() as conn:
        await conn.execute(
            text("UPDATE jobs SET run_at = now() - interval '1 second' WHERE id = :id"),
            {"id": job_id},
        )
    await db.run(lambda conn: transitions.requeue_due(conn))


async def exhaust(db: Database, job_id: int) -> None:
    """Fail a job until it is FAILED."""
    while True:
        changes = await fail_once(db, job_id)
        own = [t for t in changes.transitions if t.job_id == job_id]
        if own[-1].to_state is State.FAILED:
            return
        await requeue_now(db, job_id)


async def fail_for_good(db: Database, failures: Sequence[tuple[int, str, str]]) -> None:
    """Claim QUEUED jobs and fail them for good, as a worker records an exception that is
    not retryable: ``(job id, exception type, message)`` each, with the fingerprint the
    worker computes. A few statements, whatever the number of jobs."""
    ids = [job_id for job_id, _, _ in failures]
    async with db.connection() as conn:
        rows = await conn.execute(
            text("SELECT id, attempts FROM jobs WHERE id = ANY(CAST(:ids AS bigint[]))"),
            {"ids": ids},
        )
        messages = [(r.id, r.attempts) for r in rows]
    claimed, refused, _ = await db.run(lambda conn: transitions.claim(conn, messages, WORKER))
    assert len(claimed) == len(failures), refused
    attempt = {c.id: c.attempt for c in claimed}
    await db.run(
        lambda conn: transitions.fail(
            conn,
            [
                Failure(i, attempt[i], t, m, fingerprint=fingerprint(t, m), retryable=False)
                for i, t, m in failures
            ],
        )
    )


async def events_of(db: Database, job_id: int) -> list[tuple[str | None, str, str | None]]:
    async with db.connection() as conn:
        rows = await conn.execute(
            text(
                "SELECT from_state, to_state, reason FROM job_events WHERE job_id = :id ORDER BY id"
            ),
            {"id": job_id},
        )
        return [(r.from_state, r.to_state, r.reason) for r in rows]
