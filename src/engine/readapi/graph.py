"""The dependency graph around one job, for the console's DAG view.

A job that belongs to a workflow is shown with its whole workflow (one index
lookup on ``jobs_workflow_idx``) plus the jobs outside the workflow that are
wired to it directly, so a workflow waiting on an older job shows what it waits
for. A job submitted without a workflow is shown with its connected component
through ``job_dependencies`` (in either direction), found by a recursive query
that stops after ``limit`` jobs instead of walking a graph of unknown size.

Either way the answer is bounded by ``limit`` and says whether it was cut
(``truncated``); it never refuses a job. The job asked for is always in it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from engine.errors import JobNotFound, ValidationError, WorkflowNotFound
from engine.queries.dependencies import DEPENDENCY_COMPONENT, DEPENDENCY_EDGES_TOUCHING
from engine.queries.jobs import JOB_GRAPH_NODES, JOB_IDS_OF_WORKFLOW, JOB_WORKFLOW_OF
from engine.queries.workflows import (
    WORKFLOW_FIRST_JOB,
    WORKFLOW_LATEST,
    WORKFLOW_LATEST_LIVE,
    WORKFLOW_NAME,
)
from engine.snapshots import GraphNode, WorkflowGraph
from engine.states import State

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

DEFAULT_LIMIT = 5000  # jobs in one graph; a terminal cannot show more usefully
MAX_LIMIT = 100_000  # the largest workflow a submission accepts (engine.specs)


async def workflow_graph(
    conn: AsyncConnection, job_id: int, *, limit: int = DEFAULT_LIMIT
) -> WorkflowGraph:
    """The graph the job belongs to: its workflow, or its connected component.

    Raises :class:`~engine.errors.JobNotFound` for an unknown job.
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationError(f"limit must be between 1 and {MAX_LIMIT} (got {limit})")
    row = (await conn.execute(JOB_WORKFLOW_OF, {"id": job_id})).one_or_none()
    if row is None:
        raise JobNotFound(job_id)
    workflow_id: int | None = row.workflow_id
    name: str | None = None
    if workflow_id is not None:
        name = await conn.scalar(WORKFLOW_NAME, {"id": workflow_id})
        members = [
            r.id
            for r in await conn.execute(
                JOB_IDS_OF_WORKFLOW, {"workflow_id": workflow_id, "limit": limit + 1}
            )
        ]
    else:
        members = [
            r.id
            for r in await conn.execute(DEPENDENCY_COMPONENT, {"id": job_id, "limit": limit + 1})
        ]
    truncated = len(members) > limit
    ids = _keep(members[:limit], job_id, limit)
    edges = [
        (r.depends_on_id, r.job_id)
        for r in await conn.execute(DEPENDENCY_EDGES_TOUCHING, {"ids": list(ids)})
    ]
    if workflow_id is not None:
        # Jobs outside the workflow that it waits for or that wait for it, while room is left.
        outside = sorted({end for edge in edges for end in edge} - ids)
        room = limit - len(ids)
        truncated = truncated or len(outside) > room
        ids.update(outside[: max(room, 0)])
    nodes = tuple(
        GraphNode(
            id=r.id,
            type=r.type,
            queue=r.queue,
            state=State(r.state),
            attempts=r.attempts,
            started_at=r.started_at,
            finished_at=r.finished_at,
            wait_reason=r.wait_reason,
            workflow_id=r.workflow_id,
            label=r.ref,
        )
        for r in await conn.execute(JOB_GRAPH_NODES, {"ids": sorted(ids)})
    )
    present = {n.id for n in nodes}
    kept = tuple(sorted({(a, b) for a, b in edges if a in present and b in present}))
    return WorkflowGraph(workflow_id, name, nodes, kept, truncated)


async def workflow_graph_by_id(
    conn: AsyncConnection, workflow_id: int, *, limit: int = DEFAULT_LIMIT
) -> WorkflowGraph:
    """A workflow's graph by the workflow's id (:func:`workflow_graph` of one of its jobs).

    Raises :class:`~engine.errors.WorkflowNotFound` when no job belongs to it.
    """
    first = None
    if 0 < workflow_id < 2**63:
        first = await conn.scalar(WORKFLOW_FIRST_JOB, {"workflow_id": workflow_id})
    if first is None:
        raise WorkflowNotFound(workflow_id)
    return await workflow_graph(conn, int(first), limit=limit)


async def default_workflow_job(conn: AsyncConnection, workflow_id: int | None = None) -> int | None:
    """A job to open the DAG view on when none was picked, or None when there is none.

    With ``workflow_id``, a job of that workflow. Without, of the newest workflow that
    still has live jobs (what an operator opening the view most likely wants to watch),
    else of the newest workflow of all: an empty pane shows nothing useful.
    """
    if workflow_id is None:
        workflow_id = await conn.scalar(WORKFLOW_LATEST_LIVE)
        if workflow_id is None:
            workflow_id = await conn.scalar(WORKFLOW_LATEST)
        if workflow_id is None:
            return None
    job_id: int | None = await conn.scalar(WORKFLOW_FIRST_JOB, {"workflow_id": workflow_id})
    return job_id


def _keep(ids: Iterable[int], job_id: int, limit: int) -> set[int]:
    """``ids``, with the job asked for in it even when the cut fell before it."""
    kept = set(ids)
    if job_id not in kept:
        if len(kept) >= limit:
            kept.remove(max(kept))
        kept.add(job_id)
    return kept
