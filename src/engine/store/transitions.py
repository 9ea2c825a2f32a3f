"""State transitions after submission, single-job and batched.

Each function runs inside the caller's transaction and returns a
:class:`ChangeSet`. Legality comes from :mod:`engine.states`: single-job
operations lock the row and call :func:`engine.states.check`; batched ones are
conditional updates whose guards are exactly the legal source states, and the
attempt number in the guard fences every write of a run.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from engine.db.connection import Connection
from engine.db.errors import is_integrity_violation
from engine.errors import IllegalTransition, JobNotFound, UserError
from engine.queries.dead_letters import DEAD_LETTER_MARK_DIRTY
from engine.queries.dependencies import DEPENDENCY_BLOCKED_DEPENDENTS, DEPENDENCY_STATES_OF
from engine.queries.jobs import (
    JOB_BLOCK_DESCENDANTS,
    JOB_CANCEL_MANY,
    JOB_CLAIM_MANY,
    JOB_CLAIMED_BY,
    JOB_COMPLETE_MANY,
    JOB_DESCENDANTS,
    JOB_FAIL_MANY,
    JOB_FAILED_GROUP_PAGE,
    JOB_LOCK,
    JOB_LOCK_MANY,
    JOB_QUEUE_READY,
    JOB_REQUEUE_DUE,
    JOB_RETRY_MANY,
    JOB_RETURN_MANY,
    JOB_SET_STATE,
    JOB_STATE_MANY,
    JOB_UNBLOCK_MANY,
)
from engine.states import BLOCKING, TERMINAL, State, check
from engine.store.changes import ChangeSet, Runnable, Stop, Transition
from engine.store.fair_claim import claim_for_tenants
from engine.store.recorder import record

if TYPE_CHECKING:  # savepoints are SQLAlchemy's; a worker never loads its async extension
    from sqlalchemy.ext.asyncio import AsyncConnection


@dataclass(frozen=True, slots=True)
class Claimed:
    """A job a worker now owns for one attempt."""

    id: int
    type: str
    queue: str
    priority: int
    payload: dict[str, object]
    attempt: int
    timeout_s: float | None
    memory_mb: int | None
    queued_at: datetime | None
    started_at: datetime
    workflow_id: int | None
    version: int = 0
    cpu: float | None = None
    """Cores requested (None: no request)."""


@dataclass(frozen=True, slots=True)
class Refused:
    """A message that claimed nothing, and why (the job id may name no job)."""

    job_id: int
    attempt: int
    reason: str


@dataclass(frozen=True, slots=True)
class Success:
    """A run that returned: what to record for its attempt."""

    job_id: int
    attempt: int
    result: object = None
    peak_rss_bytes: int | None = None
    cpu_time_s: float | None = None
    started_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Failure:
    """A run that raised, timed out or was lost; retried while attempts remain."""

    job_id: int
    attempt: int
    error_type: str
    error_message: str
    traceback: str | None = None
    fingerprint: str | None = None
    retryable: bool = True
    peak_rss_bytes: int | None = None
    cpu_time_s: float | None = None
    started_at: datetime | None = None


# ---------------------------------------------------------------------------
# Batched transitions (workers, scheduler)
# ---------------------------------------------------------------------------


async def claim(
    conn: Connection, messages: Sequence[tuple[int, int]], worker_id: str
) -> tuple[list[Claimed], list[Refused], ChangeSet]:
    """QUEUED -> RUNNING for each (job id, attempt) message whose attempt is current.

    The others are refused with the reason (cancelled, superseded, finished,
    unknown) and, where the job exists, a note in its event trail. The claim,
    its events and counts are one statement: on a raw connection
    (:meth:`~engine.db.database.Database.run_single`) it commits by itself.
    """
    changes = ChangeSet()
    if not messages:
        return [], [], changes
    unique = dict(messages)  # one claim per job id; a second copy is a duplicate
    result = await conn.execute(
        JOB_CLAIM_MANY,
        {"ids": list(unique), "attempts": list(unique.values()), "worker_id": worker_id},
    )
    claimed = [_claimed(r) for r in result.mappings()]
    handled: set[int] = set()
    plain = {c.id for c in claimed}
    left = [(job_id, attempt) for job_id, attempt in unique.items() if job_id not in plain]
    if left:
        # Shared queues and limited tenants: the plain claim left those to this one.
        by_tenant = await claim_for_tenants(conn, left, worker_id)
        claimed.extend(_claimed(r) for r in by_tenant.rows)
        handled = by_tenant.handled
    for c in claimed:
        changes.transitions.append(
            Transition(
                c.id,
                c.queue,
                c.type,
                State.QUEUED,
                State.RUNNING,
                c.attempt,
                worker_id,
                "claimed",
                queued_at=c.queued_at,
                started_at=c.started_at,
                version=c.version,
            )
        )
    won = {c.id for c in claimed}
    lost = [
        (job_id, attempt)
        for job_id, attempt in messages
        if job_id not in won and job_id not in handled
    ]
    if lost:
        notes = ChangeSet()
        refused = await _explain_refusals(conn, lost, worker_id, notes)
        await record(conn, notes.transitions)  # claims recorded themselves; notes only
        changes.extend(notes)
    else:
        refused = []
    return claimed, refused, changes


async def claimed_by(
    conn: Connection, messages: Sequence[tuple[int, int]], worker_id: str
) -> list[Claimed]:
    """The runs ``worker_id`` holds in the database (``messages`` only says whether to ask:
    on a queue shared by tenants a claim may start other jobs than its messages named).

    For a claim that failed without saying whether it committed (the connection
    dropped after the claim statement ran): those runs are the worker's to start,
    or they would stay RUNNING, never started, while their worker heart-beats on.
    """
    if not messages:
        return []
    result = await conn.execute(JOB_CLAIMED_BY, {"worker_id": worker_id})
    return [_claimed(r) for r in result.mappings()]


def _claimed(r: Any) -> Claimed:
    """A claimed run from a row of the claim (or the claimed-by lookup), read by key."""
    return Claimed(
        id=r["id"],
        type=r["type"],
        queue=r["queue"],
        priority=r["priority"],
        payload=r["payload"],
        attempt=r["attempts"],
        timeout_s=r["timeout_s"],
        memory_mb=r["memory_mb"],
        cpu=r["cpu"],
        queued_at=r["queued_at"],
        started_at=r["started_at"],
        workflow_id=r["workflow_id"],
        version=r["version"],
    )


async def _explain_refusals(
    conn: Connection, lost: Sequence[tuple[int, int]], worker_id: str, changes: ChangeSet
) -> list[Refused]:
    result = await conn.execute(JOB_STATE_MANY, {"ids": [i for i, _ in lost]})
    current = {r["id"]: r for r in result.mappings()}
    refused = []
    for job_id, attempt in lost:
        row = current.get(job_id)
        if row is None:
            refused.append(Refused(job_id, attempt, "unknown job id"))
            continue
        state = State(row["state"])
        if row["paused"] and state is State.QUEUED and row["attempts"] == attempt:
            # Paused queue: the job stays queued, resume publishes it again. No note:
            # a paused queue with many jobs would flood the trail.
            refused.append(Refused(job_id, attempt, f"queue {row['queue']} is paused"))
            continue
        if state is State.CANCELLED:
            why = "job was cancelled"
        elif state in TERMINAL:
            why = f"job already {state.value}"
        elif row["attempts"] != attempt:
            why = f"attempt {attempt} superseded by attempt {row['attempts']}"
        elif state is State.QUEUED:
            # Its queue was paused for the claim and resumed since: the resume publishes it.
            why = f"queue {row['queue']} was paused; the resume publishes it again"
        else:
            why = f"job is {state.value}, not queued"
        reason = f"stale message (attempt {attempt}) ignored: {why}"
        refused.append(Refused(job_id, attempt, reason))
        changes.transitions.append(
            Transition(
                job_id,
                row["queue"],
                row["type"],
                state,
                state,
                row["attempts"],
                worker_id,
                reason,
                version=row["version"],
            )
        )
    return refused


async def complete(
    conn: Connection, successes: Sequence[Success], worker_id: str | None = None
) -> ChangeSet:
    """RUNNING -> COMPLETED for the attempts that are still current; releases dependents.

    A success whose attempt was superseded (the job was cancelled, or handed to
    another worker after this one was presumed lost) changes nothing. One
    statement writes the completions, the released dependents, their events and
    counts: on a raw connection it commits by itself, in one round trip.
    """
    changes = ChangeSet()
    if not successes:
        return changes
    result = await conn.execute(
        JOB_COMPLETE_MANY,
        {
            "ids": [s.job_id for s in successes],
            "attempts": [s.attempt for s in successes],
            "results": [
                None if s.result is None else json.dumps(s.result, default=str) for s in successes
            ],
            "peak_rss": [s.peak_rss_bytes for s in successes],
            "cpu_times": [s.cpu_time_s for s in successes],
            "started": [s.started_at for s in successes],
            "worker_id": worker_id,
        },
    )
    released = []
    for r in result.mappings():
        if r["kind"] != "completed":
            released.append(r)
            continue
        changes.transitions.append(
            Transition(
                r["id"],
                r["queue"],
                r["type"],
                State.RUNNING,
                State.COMPLETED,
                r["attempts"],
                r["worker_id"] or worker_id,
                "completed",
                queued_at=r["queued_at"],
                started_at=r["started_at"],
                finished_at=r["finished_at"],
                version=r["version"],
            )
        )
    for r in sorted(released, key=lambda r: r["id"]):
        if r["old_state"] == State.PENDING.value and r["state"] == State.QUEUED.value:
            changes.transitions.append(
                Transition(
                    r["id"],
                    r["queue"],
                    r["type"],
                    State.PENDING,
                    State.QUEUED,
                    r["attempts"],
                    None,
                    "dependencies completed",
                    version=r["version"],
                )
            )
            changes.runnables.append(Runnable(r["id"], r["attempts"], r["queue"], r["priority"]))
    return changes


async def fail(
    conn: Connection, failures: Sequence[Failure], worker_id: str | None = None
) -> ChangeSet:
    """RUNNING -> RETRYING (attempts left) or FAILED (exhausted); FAILED blocks dependents."""
    changes = ChangeSet()
    if not failures:
        return changes
    rows = (
        await conn.execute(
            JOB_FAIL_MANY,
            {
                "ids": [f.job_id for f in failures],
                "attempts": [f.attempt for f in failures],
                "retryable": [f.retryable for f in failures],
                "error_types": [f.error_type for f in failures],
                "error_messages": [f.error_message for f in failures],
                "tracebacks": [f.traceback for f in failures],
                "fingerprints": [f.fingerprint for f in failures],
                "peak_rss": [f.peak_rss_bytes for f in failures],
                "cpu_times": [f.cpu_time_s for f in failures],
                "started": [f.started_at for f in failures],
            },
        )
    ).all()
    by_id = {f.job_id: f for f in failures}
    failed_ids = []
    for r in rows:
        state = State(r.state)
        f = by_id[r.id]
        if state is State.RETRYING:
            reason = f"{f.error_type}: {f.error_message}"[:500]
            reason += f"; retry at {r.run_at.isoformat()}"
        else:
            reason = f"{f.error_type}: {f.error_message}"[:500]
            reason += "; attempts exhausted" if f.retryable else "; not retryable"
            failed_ids.append(r.id)
        t = Transition.of_row(
            r,
            State.RUNNING,
            state,
            r.worker_id or worker_id,
            reason,
            queued_at=r.queued_at,
            started_at=r.started_at,
            finished_at=r.finished_at,
        )
        changes.transitions.append(t)
        if state is State.FAILED:
            changes.dead_letters.append(t)
    if failed_ids:
        changes.extend(await _block_descendants(conn, failed_ids, "failed"))
    await record(conn, changes.transitions)
    return changes


async def give_back(
    conn: Connection,
    runs: Sequence[tuple[int, int]],
    *,
    started: bool,
    reason: str,
    worker_id: str | None = None,
) -> ChangeSet:
    """Return RUNNING jobs a worker will not finish, without spending an attempt.

    ``started=False`` (claimed, never begun): back to QUEUED and published again,
    for another worker. ``started=True`` (a draining worker's unfinished run):
    to RETRYING due now, so the retry scheduler requeues it.
    """
    changes = ChangeSet()
    if not runs:
        return changes
    target = State.RETRYING if started else State.QUEUED
    rows = (
        await conn.execute(
            JOB_RETURN_MANY,
            {"ids": [r[0] for r in runs], "attempts": [r[1] for r in runs], "state": target.value},
        )
    ).all()
    for r in rows:
        changes.transitions.append(
            Transition.of_row(
                r,
                State.RUNNING,
                target,
                worker_id,
                reason,
            )
        )
        if target is State.QUEUED:
            changes.runnables.append(Runnable(r.id, r.attempts, r.queue, r.priority))
    await record(conn, changes.transitions)
    return changes


async def requeue_due(conn: Connection, limit: int = 1000) -> ChangeSet:
    """RETRYING -> QUEUED for every retry whose ``run_at`` has passed (database clock)."""
    changes = ChangeSet()
    rows = (await conn.execute(JOB_REQUEUE_DUE, {"limit": limit})).all()
    for r in rows:
        changes.transitions.append(
            Transition.of_row(
                r,
                State.RETRYING,
                State.QUEUED,
                None,
                "backoff ended",
            )
        )
        changes.runnables.append(Runnable(r.id, r.attempts, r.queue, r.priority))
    await record(conn, changes.transitions)
    return changes


# ---------------------------------------------------------------------------
# Single-job transitions (operators)
# ---------------------------------------------------------------------------


async def cancel(
    conn: Connection,
    job_id: int,
    reason: str = "cancelled by operator",
    worker_id: str | None = None,
) -> ChangeSet:
    """Cancel a live job; dependents downstream become BLOCKED.

    A RUNNING job is marked CANCELLED here and its worker is asked to stop the
    work (``ChangeSet.stops``); whatever that run writes later is fenced out.
    """
    row = await _lock(conn, job_id)
    state = State(row.state)
    if state in TERMINAL:
        raise IllegalTransition(
            job_id, state.value, State.CANCELLED.value, "only live jobs can be cancelled"
        )
    check(job_id, state, State.CANCELLED)
    updated = (
        await conn.execute(
            JOB_SET_STATE,
            {
                "id": job_id,
                "state": State.CANCELLED.value,
                "fresh_budget": False,
                "wait_reason": reason,
            },
        )
    ).one()
    changes = ChangeSet()
    changes.transitions.append(
        Transition(
            job_id,
            updated.queue,
            updated.type,
            state,
            State.CANCELLED,
            updated.attempts,
            worker_id,
            reason,
            version=updated.version,
        )
    )
    if state is State.RUNNING:
        changes.stops.append(Stop(job_id, row.attempts, row.worker_id))
    changes.extend(await _block_descendants(conn, [job_id], "cancelled"))
    await record(conn, changes.transitions)
    return changes


async def retry(
    conn: Connection,
    job_id: int,
    reason: str = "retried by operator",
    worker_id: str | None = None,
) -> ChangeSet:
    """Run a FAILED or CANCELLED job again with a fresh attempt budget, or a RETRYING
    job now; BLOCKED dependents whose only obstacle was this job become PENDING again."""
    row = await _lock(conn, job_id)
    state = State(row.state)
    if state is State.BLOCKED:
        raise IllegalTransition(
            job_id,
            state.value,
            "queued",
            "retry the failed or cancelled job it depends on instead"
            + (f": {row.wait_reason}" if row.wait_reason else ""),
        )
    if state not in (State.FAILED, State.CANCELLED, State.RETRYING):
        raise IllegalTransition(
            job_id, state.value, "queued", "only failed, cancelled or retrying jobs can be retried"
        )
    target = State.QUEUED
    wait_reason = None
    if state is State.CANCELLED:
        deps = (await conn.execute(DEPENDENCY_STATES_OF, {"ids": [job_id]})).all()
        blockers = sorted(r.depends_on_id for r in deps if State(r.state) in BLOCKING)
        if blockers:
            target = State.BLOCKED
            wait_reason = f"dependency {blockers[0]} is not runnable"
        elif row.deps_remaining > 0:
            target = State.PENDING
    check(job_id, state, target)
    try:
        updated = (
            await conn.execute(
                JOB_SET_STATE,
                {
                    "id": job_id,
                    "state": target.value,
                    "fresh_budget": state is not State.RETRYING,
                    "wait_reason": wait_reason,
                },
            )
        ).one()
    except Exception as exc:
        if not is_integrity_violation(exc):
            raise
        raise UserError(
            f"job {job_id} cannot be retried: another live job holds its idempotency key "
            f"{row.idempotency_key!r}"
        ) from None
    if state is State.FAILED:  # its dead-letter copy is stale: the engines sweep it away
        await conn.execute(DEAD_LETTER_MARK_DIRTY)
    changes = ChangeSet()
    changes.transitions.append(
        Transition(
            job_id,
            updated.queue,
            updated.type,
            state,
            target,
            updated.attempts,
            worker_id,
            reason,
            version=updated.version,
        )
    )
    if target is State.QUEUED:
        changes.runnables.append(
            Runnable(job_id, updated.attempts, updated.queue, updated.priority)
        )
    if target is not State.BLOCKED:
        changes.extend(await _unblock_downstream(conn, [job_id]))
    await record(conn, changes.transitions)
    return changes


@dataclass(frozen=True, slots=True)
class GroupBatch:
    """One committed batch of a failure group's retry."""

    changes: ChangeSet
    retried: int
    skipped: int
    last_id: int | None
    """The highest id this batch looked at (the next batch starts above it); None when
    the group had no FAILED job left above ``after``."""


async def retry_failed_group(
    conn: AsyncConnection,
    fingerprint: str,
    *,
    after: int,
    limit: int,
    reason: str = "retried with its failure group",
) -> GroupBatch:
    """Retry the next ``limit`` FAILED jobs of a failure group with ids above ``after``.

    Each job goes through :func:`retry`, the operator's single-job transition
    (row lock, legality check, fresh attempt budget, events, dependents
    released), in id order so concurrent writers lock in the same order. Each
    runs under a savepoint: a job that is no longer FAILED when its turn comes,
    or whose idempotency key a live job now holds, is skipped and stays as it
    is, without undoing the rest of the batch.
    """
    page = await conn.execute(
        JOB_FAILED_GROUP_PAGE, {"fingerprint": fingerprint, "after": after, "limit": limit}
    )
    ids = [r.id for r in page]
    changes = ChangeSet()
    retried = skipped = 0
    for job_id in ids:
        try:
            async with conn.begin_nested():
                one = await retry(conn, job_id, reason)
        except UserError:  # IllegalTransition, JobNotFound, a held idempotency key
            skipped += 1
            continue
        changes.extend(one)
        retried += 1
    return GroupBatch(changes, retried, skipped, ids[-1] if ids else None)


@dataclass(frozen=True, slots=True)
class BulkBatch:
    """One committed batch of a bulk retry or cancel."""

    changes: ChangeSet
    done: int
    skipped: int


async def act_on_each(
    conn: AsyncConnection, action: str, ids: Sequence[int], reason: str
) -> BulkBatch:
    """Retry or cancel each job of ``ids`` (:func:`retry_many`, :func:`cancel_many`),
    locking in id order so concurrent writers lock in one order. A job whose state no
    longer allows the action is skipped, without undoing the rest of the batch."""
    if action == "cancel":
        return await cancel_many(conn, ids, reason)
    return await retry_many(conn, ids, reason)


async def retry_many(conn: AsyncConnection, ids: Sequence[int], reason: str) -> BulkBatch:
    """Retry the jobs of ``ids`` as :func:`retry` does each: the batch is locked in id
    order first; the plain cases (failed, retrying, or cancelled with no dependencies,
    none holding an idempotency key) move in one statement; the rest one by one, each
    under a savepoint, skipped when the retry does not apply."""
    ordered = sorted(ids)
    await conn.execute(JOB_LOCK_MANY, {"ids": ordered})
    rows = (await conn.execute(JOB_RETRY_MANY, {"ids": ordered})).all()
    changes = ChangeSet()
    for r in rows:
        state = State(r.from_state)
        check(r.id, state, State.QUEUED)
        changes.transitions.append(
            Transition(
                r.id,
                r.queue,
                r.type,
                state,
                State.QUEUED,
                r.attempts,
                None,
                reason,
                version=r.version,
            )
        )
        changes.runnables.append(Runnable(r.id, r.attempts, r.queue, r.priority))
    if rows:
        if any(State(r.from_state) is State.FAILED for r in rows):
            await conn.execute(DEAD_LETTER_MARK_DIRTY)  # their dead-letter copies are stale
        changes.extend(await _unblock_downstream(conn, [r.id for r in rows]))
        await record(conn, changes.transitions)
    plain = {r.id for r in rows}
    done, skipped = len(rows), 0
    for job_id in ordered:
        if job_id in plain:
            continue
        try:
            async with conn.begin_nested():
                one = await retry(conn, job_id, reason)
        except UserError:  # IllegalTransition, JobNotFound, a held idempotency key
            skipped += 1
            continue
        changes.extend(one)
        done += 1
    return BulkBatch(changes, done, skipped)


async def cancel_many(conn: Connection, ids: Sequence[int], reason: str) -> BulkBatch:
    """Cancel the live jobs of ``ids`` with one statement (a bulk cancel's batch): the same
    outcome as :func:`cancel` on each, without its round trips per job (a bulk cancel of
    100,000 jobs took minutes one by one). Rows are locked in id order; a job already
    finished is skipped. Running jobs' workers are asked to stop; dependents are blocked."""
    rows = (await conn.execute(JOB_CANCEL_MANY, {"ids": sorted(ids), "wait_reason": reason})).all()
    changes = ChangeSet()
    for r in rows:
        state = State(r.from_state)
        check(r.id, state, State.CANCELLED)
        changes.transitions.append(
            Transition(
                r.id,
                r.queue,
                r.type,
                state,
                State.CANCELLED,
                r.attempts,
                None,
                reason,
                version=r.version,
            )
        )
        if state is State.RUNNING:
            changes.stops.append(Stop(r.id, r.attempts, r.from_worker))
    if rows:
        changes.extend(await _block_descendants(conn, [r.id for r in rows], "cancelled"))
        await record(conn, changes.transitions)
    return BulkBatch(changes, len(rows), len(ids) - len(rows))


async def descendants(conn: Connection, job_id: int) -> list[tuple[int, State, str]]:
    """Every job downstream of ``job_id`` with its state and type (for previews)."""
    rows = await conn.execute(JOB_DESCENDANTS, {"ids": [job_id]})
    return [(r.id, State(r.state), r.type) for r in rows]


# ---------------------------------------------------------------------------
# Dependency propagation
# ---------------------------------------------------------------------------


async def _block_descendants(conn: Connection, root_ids: Sequence[int], what: str) -> ChangeSet:
    changes = ChangeSet()
    roots = sorted(root_ids)
    label = ", ".join(str(i) for i in roots[:3]) + ("…" if len(roots) > 3 else "")
    reason = f"dependency {label} {what}"
    rows = (await conn.execute(JOB_BLOCK_DESCENDANTS, {"ids": roots, "reason": reason})).all()
    for r in rows:
        changes.transitions.append(
            Transition.of_row(
                r,
                State.PENDING,
                State.BLOCKED,
                None,
                reason,
            )
        )
    return changes


async def _unblock_downstream(conn: Connection, root_ids: Sequence[int]) -> ChangeSet:
    """Walk BLOCKED jobs downstream of retried jobs, level by level.

    A job leaves BLOCKED only when none of its dependencies is failed,
    cancelled or blocked; dependencies are locked FOR SHARE while we decide,
    so one cannot fail unseen and leave a dependent PENDING forever.
    """
    changes = ChangeSet()
    frontier = [
        r.id for r in await conn.execute(DEPENDENCY_BLOCKED_DEPENDENTS, {"ids": list(root_ids)})
    ]
    seen: set[int] = set()
    while frontier:
        deps = (await conn.execute(DEPENDENCY_STATES_OF, {"ids": frontier})).all()
        still_blocked = {r.job_id for r in deps if State(r.state) in BLOCKING}
        free = sorted(set(frontier) - still_blocked - seen)
        if not free:
            break
        seen.update(free)
        rows = (await conn.execute(JOB_UNBLOCK_MANY, {"ids": free})).all()
        ready = []
        for r in rows:
            changes.transitions.append(
                Transition.of_row(
                    r,
                    State.BLOCKED,
                    State.PENDING,
                    None,
                    "blocking dependency was retried",
                )
            )
            if r.deps_remaining <= 0:
                ready.append(r.id)
        if ready:
            for r in await conn.execute(JOB_QUEUE_READY, {"ids": ready}):
                changes.transitions.append(
                    Transition.of_row(
                        r,
                        State.PENDING,
                        State.QUEUED,
                        None,
                        "dependencies completed",
                    )
                )
                changes.runnables.append(Runnable(r.id, r.attempts, r.queue, r.priority))
        frontier = [
            r.id
            for r in await conn.execute(
                DEPENDENCY_BLOCKED_DEPENDENTS, {"ids": [r.id for r in rows]}
            )
        ]
    return changes


async def _lock(conn: Connection, job_id: int) -> Any:
    row = (await conn.execute(JOB_LOCK, {"id": job_id})).one_or_none()
    if row is None:
        raise JobNotFound(job_id)
    return row
