"""Reads of single jobs, pages of jobs and counts per queue and state."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from engine.errors import JobNotFound, ValidationError
from engine.priority import Priority
from engine.queries.counts import COUNT_TOTALS
from engine.queries.dependencies import DEPENDENCY_DOWNSTREAM, DEPENDENCY_UPSTREAM
from engine.queries.events import EVENT_LIST_FOR_JOB
from engine.queries.jobs import JOB_GET, job_page_query
from engine.queries.logs import LOG_LIST_AFTER, LOG_LIST_FOR_JOB
from engine.queries.queues import QUEUE_LIST
from engine.snapshots import (
    ErrorInfo,
    JobDetail,
    JobEvent,
    JobFilter,
    JobPage,
    JobRef,
    JobSort,
    JobSummary,
    LogLine,
    LogPage,
    QueueCounts,
    SortKey,
)
from engine.specs import storable
from engine.states import State

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

MAX_PAGE = 1000  # rows per page at most
BIGINT_MAX = 2**63 - 1  # the largest id PostgreSQL can hold (and the driver can send)
EVENTS_SHOWN = 1000  # a job's trail is cut after this many events
LOGS_SHOWN = 500  # the most recent log lines of a job


async def job_detail(conn: AsyncConnection, job_id: int) -> JobDetail:
    """A job with its neighbours, event trail and recent logs."""
    row = (await conn.execute(JOB_GET, {"id": job_id})).one_or_none()
    if row is None:
        raise JobNotFound(job_id)
    upstream = tuple(
        JobRef(r.id, r.type, State(r.state))
        for r in await conn.execute(DEPENDENCY_UPSTREAM, {"id": job_id})
    )
    downstream = tuple(
        JobRef(r.id, r.type, State(r.state))
        for r in await conn.execute(DEPENDENCY_DOWNSTREAM, {"id": job_id})
    )
    events = tuple(
        JobEvent(
            r.at,
            State(r.from_state) if r.from_state else None,
            State(r.to_state),
            r.attempt,
            r.worker_id,
            r.reason,
        )
        for r in await conn.execute(EVENT_LIST_FOR_JOB, {"id": job_id, "limit": EVENTS_SHOWN})
    )
    logs = tuple(
        LogLine(r.at, r.attempt, r.level, r.message)
        for r in await conn.execute(LOG_LIST_FOR_JOB, {"id": job_id, "limit": LOGS_SHOWN})
    )
    error = None
    if row.error_type or row.error_message:
        error = ErrorInfo(
            row.error_type, row.error_message, row.error_traceback, row.error_fingerprint
        )
    used = row.attempts - row.budget_base
    return JobDetail(
        id=row.id,
        type=row.type,
        queue=row.queue,
        priority=Priority(row.priority),
        state=State(row.state),
        payload_json=json.dumps(row.payload, ensure_ascii=False),
        idempotency_key=row.idempotency_key,
        workflow_id=row.workflow_id,
        attempts=row.attempts,
        attempts_left=max(0, row.max_retries + 1 - used),
        max_retries=row.max_retries,
        timeout_s=row.timeout_s,
        memory_mb=row.memory_mb,
        cpu=row.cpu,
        ttl_s=row.ttl_s,
        run_at=row.run_at,
        created_at=row.created_at,
        queued_at=row.queued_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        worker_id=row.worker_id,
        wait_reason=row.wait_reason,
        error=error,
        result_json=None if row.result is None else json.dumps(row.result, ensure_ascii=False),
        peak_rss_bytes=row.peak_rss_bytes,
        cpu_time_s=row.cpu_time_s,
        upstream=upstream,
        downstream=downstream,
        events=events,
        logs=logs,
        backoff_s=row.backoff_s,
        backoff_max_s=row.backoff_max_s,
        tenant=row.tenant,
    )


async def job_logs(
    conn: AsyncConnection, job_id: int, *, after: int = 0, limit: int = LOGS_SHOWN
) -> LogPage:
    """A job's log lines with ids above ``after``, oldest first, at most ``limit``:
    what a follower polls for (``GET /v1/jobs/{id}/logs?after=``)."""
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationError(f"limit must be between 1 and {MAX_PAGE} (got {limit})")
    if not 0 <= after <= BIGINT_MAX:
        raise ValidationError(f"after must be a log line id, 0 or more (got {after})")
    if (await conn.execute(JOB_GET, {"id": job_id})).first() is None:
        raise JobNotFound(job_id)
    lines = tuple(
        LogLine(r.at, r.attempt, r.level, r.message, int(r.id))
        for r in await conn.execute(LOG_LIST_AFTER, {"id": job_id, "after": after, "limit": limit})
    )
    return LogPage(job_id, lines, lines[-1].id if lines and lines[-1].id else after)


async def job_page(
    conn: AsyncConnection,
    flt: JobFilter,
    *,
    limit: int = 50,
    before: int | None = None,
    sort: JobSort | None = None,
    after: SortKey | None = None,
) -> JobPage:
    """Jobs matching ``flt``, newest first, at most ``limit``, with ids below ``before``;
    or, with ``sort``, in that order, after the row ``after`` (a page's ``next_after``).

    Keyset pagination: the cost of a page does not grow with how deep it is. Every
    value is a bound parameter, never SQL text.
    """
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationError(f"limit must be between 1 and {MAX_PAGE} (got {limit})")
    # Values no row can hold match nothing; sent as parameters they would fail in the
    # driver (NUL, lone surrogates, numbers beyond bigint) instead.
    texts = (flt.text, flt.queue, flt.type, flt.tenant)
    if any(t is not None and not storable(t) for t in texts) or (
        flt.workflow_id is not None and not 0 < flt.workflow_id <= BIGINT_MAX
    ):
        return JobPage((), None)
    if before is not None and before > BIGINT_MAX:
        before = None  # every id is below it
    order = sort or JobSort()
    if after is not None and (
        not isinstance(after, tuple)
        or len(after) != 2
        or isinstance(after[1], bool)
        or not isinstance(after[1], int)
        or (order.column != "id" and not isinstance(after[0], (str, int)))
    ):
        raise ValidationError(f"a page cursor is (value, id), not {after!r}")
    if after is not None and (
        not -BIGINT_MAX <= after[1] <= BIGINT_MAX
        or (isinstance(after[0], str) and not storable(after[0]))
    ):
        return JobPage((), None)
    sql, params = job_page_query(
        limit=limit + 1,
        before=before,
        sort=order.column,
        descending=order.descending,
        after=after,
        state=None if flt.state is None else flt.state.value,
        queue=flt.queue,
        job_type=flt.type,
        workflow_id=flt.workflow_id,
        tenant=flt.tenant,
        search=flt.text,
    )
    rows = (await conn.execute(sql, params)).all()
    items = tuple(
        JobSummary(
            r.id,
            r.type,
            r.queue,
            Priority(r.priority),
            State(r.state),
            r.attempts,
            r.created_at,
            r.started_at,
            r.finished_at,
            r.worker_id,
            r.workflow_id,
            r.error_message,
            r.wait_reason,
            r.error_type,
            r.error_fingerprint,
            r.tenant,
        )
        for r in rows[:limit]
    )
    more = len(rows) > limit
    next_before = items[-1].id if more else None
    next_after = _sort_key(items[-1], order) if more else None
    return JobPage(items, next_before, next_after)


def _sort_key(job: JobSummary, order: JobSort) -> SortKey:
    """Where a page in ``order`` ended: the value of its sort column in the last row."""
    value: str | int = {
        "id": job.id,
        "state": job.state.value,
        "type": job.type,
        "queue": job.queue,
        "priority": int(job.priority),
        "attempts": job.attempts,
    }[order.column]
    return (value, job.id)


async def queue_counts(conn: AsyncConnection) -> list[QueueCounts]:
    """Exact counts per queue and state, from the count tables (no scan of jobs)."""
    queues = {r.name: r for r in await conn.execute(QUEUE_LIST)}
    counts: dict[str, dict[State, int]] = {name: {} for name in queues}
    for r in await conn.execute(COUNT_TOTALS):
        counts.setdefault(r.queue, {})[State(r.state)] = int(r.jobs)
    return [
        QueueCounts.build(
            name,
            bool(queues[name].paused) if name in queues else False,
            queues[name].max_waiting if name in queues else None,
            counts[name],
        )
        for name in sorted(counts)
    ]
