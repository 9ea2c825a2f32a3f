"""Drive many jobs through their states in batches, running the after-commit hooks
as a worker would (tests/support/flow.py drives one job and skips the hooks)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import text

from engine.db.database import Database
from engine.hooks import AfterCommit, run_hooks
from engine.specs import JobSpec
from engine.states import State
from engine.store import transitions
from engine.store.transitions import Failure, Success

WORKER = "test-worker"
BATCH = 500


async def submit(client, n: int, queue: str = "default", type_: str = "demo.noop") -> list[int]:
    """Submit n independent jobs through the client (its hooks run) in batches."""
    ids: list[int] = []
    for start in range(0, n, BATCH):
        specs = [JobSpec(type_, queue=queue) for _ in range(min(BATCH, n - start))]
        ids.extend(s.id for s in await client.submit_many(specs))
    return ids


async def claim(db: Database, hooks: Sequence[AfterCommit], ids: Sequence[int]) -> list[int]:
    """Claim queued jobs (their current attempt); returns the attempts, in order."""
    attempts: dict[int, int] = {}
    for start in range(0, len(ids), BATCH):
        batch = list(ids[start : start + BATCH])
        async with db.connection() as conn:
            rows = await conn.execute(
                text("SELECT id, attempts FROM jobs WHERE id = ANY(:ids)"), {"ids": batch}
            )
            current = {r.id: r.attempts for r in rows}
        claimed, refused, changes = await db.run(
            lambda conn, b=batch, c=current: transitions.claim(conn, [(i, c[i]) for i in b], WORKER)
        )
        assert not refused, refused
        await run_hooks(hooks, changes)
        attempts.update({c.id: c.attempt for c in claimed})
    return [attempts[i] for i in ids]


async def complete(db: Database, hooks: Sequence[AfterCommit], ids: Sequence[int]) -> None:
    """Claim and complete jobs."""
    attempts = await claim(db, hooks, ids)
    for start in range(0, len(ids), BATCH):
        batch = [Success(i, a) for i, a in zip(ids, attempts, strict=True)][start : start + BATCH]
        changes = await db.run(lambda conn, b=batch: transitions.complete(conn, b, WORKER))
        await run_hooks(hooks, changes)


async def fail(
    db: Database,
    hooks: Sequence[AfterCommit],
    ids: Sequence[int],
    *,
    retryable: bool = False,
    error: tuple[str, str, str | None] = ("RuntimeError", "boom", None),
) -> None:
    """Claim jobs and fail their run (FAILED unless retryable with attempts left)."""
    attempts = await claim(db, hooks, ids)
    etype, message, fingerprint = error
    failures = [
        Failure(i, a, etype, message, fingerprint=fingerprint, retryable=retryable)
        for i, a in zip(ids, attempts, strict=True)
    ]
    for start in range(0, len(failures), BATCH):
        batch = failures[start : start + BATCH]
        changes = await db.run(lambda conn, b=batch: transitions.fail(conn, b, WORKER))
        await run_hooks(hooks, changes)


async def truth(db: Database) -> dict[tuple[str, State], int]:
    """Jobs per (queue, state) counted on the jobs table itself (tests only)."""
    async with db.connection() as conn:
        rows = await conn.execute(
            text("SELECT queue, state, count(*) AS n FROM jobs GROUP BY queue, state")
        )
        return {(r.queue, State(r.state)): int(r.n) for r in rows}


async def states(db: Database) -> dict[int, State]:
    """Every job's state from PostgreSQL (tests only)."""
    async with db.connection() as conn:
        rows = await conn.execute(text("SELECT id, state FROM jobs"))
        return {r.id: State(r.state) for r in rows}


def nonzero(counts: dict[tuple[str, State], int]) -> dict[tuple[str, State], int]:
    """The same counts without zero entries, for comparing with a GROUP BY."""
    return {k: v for k, v in counts.items() if v}
