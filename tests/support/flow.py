"""Drive jobs through their states directly on the store, as a worker would."""

from __future__ import annotations

from sqlalchemy import text

from engine.db.database import Database
from engine.states import State
from engine.store import transitions
from engine.store.changes import ChangeSet
from engine.store.transitions import Claimed, Failure, Success

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


async def events_of(db: Database, job_id: int) -> list[tuple[str | None, str, str | None]]:
    async with db.connection() as conn:
        rows = await conn.execute(
            text(
                "SELECT from_state, to_state, reason FROM job_events WHERE job_id = :id ORDER BY id"
            ),
            {"id": job_id},
        )
        return [(r.from_state, r.to_state, r.reason) for r in rows]
