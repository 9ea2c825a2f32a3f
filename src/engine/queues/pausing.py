"""Pausing and resuming a queue.

Paused means: submissions are accepted, running jobs finish, and no worker
starts a job of the queue. Claims skip paused queues (``JOB_CLAIM_MANY``) and a
worker acks the refused message, so the job stays QUEUED with no message left
in the broker; resuming therefore publishes every QUEUED job of the queue
again, in batches, after the resume has committed. Publishing a job twice is
harmless (the claim is fenced by the attempt), so a republish racing with the
dispatch reconciler costs a refused duplicate at most.

A paused queue's queued jobs still age: a job with a TTL expires while the
queue is paused if its TTL runs out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from engine.db.connection import Connection
from engine.db.database import Database
from engine.hooks import AfterCommit, run_hooks
from engine.queries.jobs import JOB_QUEUED_OF_QUEUE
from engine.queries.queues import QUEUE_LOCK, QUEUE_SET_PAUSED
from engine.queues.info import QueueInfo, UnknownQueue, check_queue_name, waiting_counts
from engine.store.changes import ChangeSet, Runnable

REPUBLISH_BATCH = 5000  # queued jobs read and published per round on resume


@dataclass(frozen=True, slots=True)
class PauseChange:
    """A queue after pause or resume, and whether the call changed anything."""

    queue: QueueInfo
    changed: bool
    republished: int = 0
    """Resume only: QUEUED jobs handed to the after-commit hooks to publish again."""


async def pause_queue(conn: Connection, queue: str) -> PauseChange:
    """Pause ``queue`` (known or not yet used): no new starts until it is resumed."""
    check_queue_name(queue)
    before = (await conn.execute(QUEUE_LOCK, {"name": queue})).one_or_none()
    row = (await conn.execute(QUEUE_SET_PAUSED, {"name": queue, "paused": True})).one()
    waiting = await waiting_counts(conn, [queue])
    info = QueueInfo(row.name, True, row.max_waiting, waiting[queue])
    return PauseChange(info, changed=before is None or not before.paused)


async def resume_queue(conn: Connection, queue: str) -> PauseChange:
    """Let workers start ``queue``'s jobs again; the caller republishes them after commit
    (:func:`queued_runnables`, or :func:`resume_and_republish` for both steps)."""
    check_queue_name(queue)
    before = (await conn.execute(QUEUE_LOCK, {"name": queue})).one_or_none()
    if before is None:
        raise UnknownQueue(queue)
    row = (await conn.execute(QUEUE_SET_PAUSED, {"name": queue, "paused": False})).one()
    waiting = await waiting_counts(conn, [queue])
    info = QueueInfo(row.name, False, row.max_waiting, waiting[queue])
    return PauseChange(info, changed=bool(before.paused))


async def queued_runnables(
    conn: Connection, queue: str, *, after: int = 0, limit: int = REPUBLISH_BATCH
) -> ChangeSet:
    """A change set whose runnables are ``queue``'s QUEUED jobs with ids above ``after``
    (at most ``limit``, by id): what to publish again when the queue is resumed."""
    rows = await conn.execute(JOB_QUEUED_OF_QUEUE, {"queue": queue, "after": after, "limit": limit})
    return ChangeSet(runnables=[Runnable(r.id, r.attempts, r.queue, r.priority) for r in rows])


async def resume_and_republish(
    db: Database, hooks: Sequence[AfterCommit], queue: str, *, batch: int = REPUBLISH_BATCH
) -> PauseChange:
    """Resume ``queue`` (one short transaction), then hand its QUEUED jobs to ``hooks`` in
    batches. With no hooks (nothing to publish to, e.g. the command line) ``republished``
    is 0 and the dispatch reconciler publishes the unclaimed QUEUED jobs on its next round."""
    change = await db.run(lambda conn: resume_queue(conn, queue))
    if not hooks:
        return change
    published = 0
    after = 0
    while True:
        async with db.connection() as conn:
            changes = await queued_runnables(conn, queue, after=after, limit=batch)
        if not changes.runnables:
            break
        await run_hooks(hooks, changes)
        published += len(changes.runnables)
        after = changes.runnables[-1].job_id
        if len(changes.runnables) < batch:
            break
    return PauseChange(change.queue, change.changed, published)
