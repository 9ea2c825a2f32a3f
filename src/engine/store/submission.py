"""Submission: validated specs become jobs, edges and events in one transaction.

All or nothing: any refusal raises before commit and the transaction rolls
back. Existing dependencies are locked ``FOR SHARE`` so none can finish or fail
between our reading its state and our edge becoming visible; idempotency keys
are serialized with transaction-scoped advisory locks, so 50 concurrent
submissions with one key create exactly one job.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from engine.db.connection import Connection
from engine.errors import ValidationError
from engine.queries.dependencies import DEPENDENCY_INSERT_MANY
from engine.queries.jobs import (
    JOB_IDEMPOTENCY_LOCK,
    JOB_IDS_ALLOCATE,
    JOB_INSERT_MANY,
    JOB_LIVE_BY_KEYS,
    JOB_SHARE_MANY,
)
from engine.queries.workflows import WORKFLOW_INSERT
from engine.queues.limits import check_queue_limits
from engine.specs import PreparedJob
from engine.states import BLOCKING, State
from engine.store.changes import ChangeSet, Runnable, Transition
from engine.tenants.limits import check_tenant_limits

IDEMPOTENCY_LOCK_CLASS = 0x5143  # first key of the advisory locks on idempotency keys


@dataclass(frozen=True, slots=True)
class Submitted:
    """The outcome for one spec: the job's id and state, or the live job it duplicates."""

    ref: str
    id: int
    state: State
    duplicate: bool


@dataclass(frozen=True, slots=True)
class Submission:
    """The outcome of a whole submission, in the order the specs were prepared."""

    jobs: tuple[Submitted, ...]
    workflow_id: int | None
    changes: ChangeSet


@dataclass(slots=True)
class _Existing:
    id: int
    state: State
    workflow_id: int | None
    tenant: str


async def insert_jobs(
    conn: Connection,
    prepared: Sequence[PreparedJob],
    *,
    workflow_name: str | None = None,
    as_workflow: bool = False,
) -> Submission:
    """Insert prepared jobs (already in dependency order) with their edges and events.

    ``as_workflow`` groups the new jobs under a new workflow row; otherwise a
    job with dependencies joins the workflow of its first dependency that has one.
    """
    existing = await _lock_dependencies(conn, prepared)
    duplicates = await _find_duplicates(conn, prepared)

    new_jobs = [p for p in prepared if p.ref not in duplicates]
    await check_queue_limits(conn, [p.queue for p in new_jobs])  # refuses whole, writes nothing
    await check_tenant_limits(conn, [p.tenant for p in new_jobs])  # likewise
    ids = (
        [row[0] for row in await conn.execute(JOB_IDS_ALLOCATE, {"n": len(new_jobs)})]
        if new_jobs
        else []
    )
    new_ids = dict(zip((p.ref for p in new_jobs), ids, strict=True))
    workflow_id: int | None = None
    if as_workflow and new_jobs:
        workflow_id = await conn.scalar(WORKFLOW_INSERT, {"name": workflow_name})

    # States in dependency order: a job sees the states already decided for its deps.
    ref_state: dict[str, State] = {}
    ref_workflow: dict[str, int | None] = {}
    for ref, held in duplicates.items():
        ref_state[ref] = held.state
        ref_workflow[ref] = held.workflow_id
    rows: list[tuple[PreparedJob, int, State, int, str | None, int | None]] = []
    edges: list[tuple[int, int]] = []
    results: list[Submitted] = []
    for p in prepared:
        dup = duplicates.get(p.ref)
        if dup is not None:
            results.append(Submitted(p.ref, dup.id, dup.state, True))
            continue
        job_id = new_ids[p.ref]
        dep_states: list[tuple[int, State]] = []
        dep_workflows: list[int | None] = []
        for dep_id in p.depends_on_ids:
            ex = existing[dep_id]
            dep_states.append((dep_id, ex.state))
            dep_workflows.append(ex.workflow_id)
        for dep_ref in p.depends_on_refs:
            dep_id = duplicates[dep_ref].id if dep_ref in duplicates else new_ids[dep_ref]
            dep_states.append((dep_id, ref_state[dep_ref]))
            dep_workflows.append(ref_workflow.get(dep_ref))
        unique_deps = dict(dep_states)
        edges.extend((job_id, dep_id) for dep_id in unique_deps)
        remaining = sum(1 for s in unique_deps.values() if s is not State.COMPLETED)
        blockers = sorted(d for d, s in unique_deps.items() if s in BLOCKING)
        reason: str | None = None
        if blockers:
            state = State.BLOCKED
            reason = f"dependency {blockers[0]} is {unique_deps[blockers[0]].value}"
        elif remaining:
            state = State.PENDING
        else:
            state = State.QUEUED
        wf = workflow_id
        if wf is None and not as_workflow:
            wf = next((w for w in dep_workflows if w is not None), None)
        ref_state[p.ref] = state
        ref_workflow[p.ref] = wf
        rows.append((p, job_id, state, remaining, reason, wf))
        results.append(Submitted(p.ref, job_id, state, False))

    changes = ChangeSet()
    if rows:
        # Queues, jobs, their events and counts: one statement.
        await conn.execute(JOB_INSERT_MANY, _insert_params(rows))
        if edges:
            await conn.execute(
                DEPENDENCY_INSERT_MANY,
                {"job_ids": [a for a, _ in edges], "depends_on_ids": [b for _, b in edges]},
            )
        for p, job_id, state, remaining, reason, _ in rows:
            changes.transitions.append(
                Transition(
                    job_id=job_id,
                    queue=p.queue,
                    type=p.type,
                    from_state=None,
                    to_state=state,
                    attempt=0,
                    reason=reason
                    or (
                        f"submitted; waiting for {remaining} dependencies"
                        if remaining
                        else "submitted"
                    ),
                )
            )
            if state is State.QUEUED:
                changes.runnables.append(Runnable(job_id, 0, p.queue, int(p.priority)))
    return Submission(tuple(results), workflow_id, changes)


async def _lock_dependencies(
    conn: Connection, prepared: Sequence[PreparedJob]
) -> dict[int, _Existing]:
    wanted = sorted({d for p in prepared for d in p.depends_on_ids})
    if not wanted:
        return {}
    found = {
        row.id: _Existing(row.id, State(row.state), row.workflow_id, row.tenant)
        for row in await conn.execute(JOB_SHARE_MANY, {"ids": wanted})
    }
    for p in prepared:
        missing = [d for d in p.depends_on_ids if d not in found]
        if missing:
            names = ", ".join(str(m) for m in missing)
            raise ValidationError(
                f"{p.label} depends on job{'s' if len(missing) > 1 else ''} {names}, "
                f"which do{'es' if len(missing) == 1 else ''} not exist"
            )
        foreign = [d for d in p.depends_on_ids if found[d].tenant != p.tenant]
        if foreign:
            # Said as "does not exist" would hide nothing: the job is another tenant's.
            raise ValidationError(
                f"{p.label} is for tenant {p.tenant!r} and may depend only on jobs of that "
                f"tenant; job {foreign[0]} belongs to tenant {found[foreign[0]].tenant!r}"
            )
    return found


async def _find_duplicates(
    conn: Connection, prepared: Sequence[PreparedJob]
) -> dict[str, _Existing]:
    """Map the ref of every spec whose key is held by a live job to that job."""
    keys = sorted({p.idempotency_key for p in prepared if p.idempotency_key is not None})
    if not keys:
        return {}
    await conn.execute(JOB_IDEMPOTENCY_LOCK, {"lock_class": IDEMPOTENCY_LOCK_CLASS, "keys": keys})
    live = {
        row.idempotency_key: _Existing(row.id, State(row.state), row.workflow_id, row.tenant)
        for row in await conn.execute(JOB_LIVE_BY_KEYS, {"keys": keys})
    }
    duplicates: dict[str, _Existing] = {}
    first_with_key: dict[str, str] = {}
    for p in prepared:
        key = p.idempotency_key
        if key is None:
            continue
        if key in live:
            if live[key].tenant != p.tenant:
                # Keys are unique installation-wide; another tenant's job is not a duplicate
                # to hand back, nor one to name.
                raise ValidationError(
                    f"{p.label}: idempotency key {key!r} is in use; choose another key"
                )
            duplicates[p.ref] = live[key]
        elif key in first_with_key:
            raise ValidationError(
                f"{first_with_key[key]} and {p.label} share the idempotency key "
                f"{key!r}; keys must be unique within one submission"
            )
        else:
            first_with_key[key] = p.label
    return duplicates


def _insert_params(
    rows: Sequence[tuple[PreparedJob, int, State, int, str | None, int | None]],
) -> dict[str, list[object]]:
    """The columns of JOB_INSERT_MANY, one array each."""
    return {
        "ids": [r[1] for r in rows],
        "types": [r[0].type for r in rows],
        "queues": [r[0].queue for r in rows],
        "priorities": [int(r[0].priority) for r in rows],
        "states": [r[2].value for r in rows],
        "payloads": [r[0].payload_json for r in rows],
        "keys": [r[0].idempotency_key for r in rows],
        "workflow_ids": [r[5] for r in rows],
        "max_retries": [r[0].max_retries for r in rows],
        "backoffs_s": [r[0].backoff_s for r in rows],
        "backoffs_max_s": [r[0].backoff_max_s for r in rows],
        "timeouts_s": [r[0].timeout_s for r in rows],
        "memory_mb": [r[0].memory_mb for r in rows],
        "ttls_s": [r[0].ttl_s for r in rows],
        "deps_remaining": [r[3] for r in rows],
        "wait_reasons": [r[4] for r in rows],
        "refs": [r[0].given_ref for r in rows],
        "cpus": [r[0].cpu for r in rows],
        "tenants": [r[0].tenant for r in rows],
    }
