"""Reads of jobs and workflows: scope ``read``. Each answer is the CLI's ``--json``
document for the same thing, from the same serializer."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from engine.snapshots import JobFilter, WorkflowGraph
from engine.snapshots.common import iso
from engine.states import State
from queueconsole.api.auth import Scope, require
from queueconsole.api.models import JobOut, JobPageOut, LogPageOut, WorkflowGraphOut
from queueconsole.api.problems import documented
from queueconsole.api.state import Api
from queueconsole.api.tenancy import check_job, check_workflow, token_tenant

router = APIRouter(
    prefix="/v1",
    tags=["read"],
    dependencies=[Depends(require(Scope.READ))],
    responses=documented(401, 403, 422, 503),
)

JOB_ID_MAX = 2**63 - 1


@router.get("/jobs/{job_id}", response_model=JobOut, responses=documented(404), summary="One job")
async def get_job(job_id: int, state: Api, request: Request) -> JSONResponse:
    """The job with its dependencies, error, events and logs: ``queueconsole job --json``."""
    await check_job(request, state.client, job_id)
    detail = await state.client.job(job_id)
    return JSONResponse(detail.to_json())


@router.get("/jobs", response_model=JobPageOut, summary="A page of jobs, newest first")
async def list_jobs(
    state: Api,
    request: Request,
    job_state: Annotated[State | None, Query(alias="state")] = None,
    queue: str | None = None,
    type: str | None = None,
    tenant: Annotated[str | None, Query(description="only this tenant's jobs")] = None,
    text: Annotated[str | None, Query(description="matches type, error, key or id")] = None,
    before: Annotated[
        int | None, Query(ge=1, description="only jobs older than this id (next_before)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> JSONResponse:
    """Keyset pages: pass the answer's ``next_before`` as ``before`` for the next page
    (null on the last one). Filters as ``queueconsole jobs``."""
    bound = token_tenant(request)
    if bound is not None and tenant is not None and tenant != bound:
        return JSONResponse({"jobs": [], "next_before": None})  # none of its jobs are there
    flt = JobFilter(state=job_state, queue=queue, type=type, text=text, tenant=bound or tenant)
    page = await state.client.jobs(flt, limit=limit, before=before)
    return JSONResponse(
        {"jobs": [j.to_json() for j in page.items], "next_before": page.next_before}
    )


@router.get(
    "/jobs/{job_id}/logs",
    response_model=LogPageOut,
    responses=documented(404),
    summary="A job's log lines after a line id",
)
async def job_logs(
    job_id: int,
    state: Api,
    request: Request,
    after: Annotated[int, Query(ge=0, le=JOB_ID_MAX, description="a line id (next_after)")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> JSONResponse:
    """Oldest first; poll with ``after=next_after`` to follow a running job."""
    await check_job(request, state.client, job_id)
    page = await state.client.job_logs(job_id, after=after, limit=limit)
    return JSONResponse(
        {
            "job_id": page.job_id,
            "logs": [{"id": line.id, **line.to_json()} for line in page.lines],
            "next_after": page.next_after,
        }
    )


def graph_json(graph: WorkflowGraph) -> dict[str, object]:
    """A workflow graph: nodes and ``{depends_on, job}`` edges."""
    return {
        "workflow_id": graph.workflow_id,
        "name": graph.name,
        "nodes": [
            {
                "id": n.id,
                "type": n.type,
                "queue": n.queue,
                "state": n.state.value,
                "attempts": n.attempts,
                "started_at": iso(n.started_at),
                "finished_at": iso(n.finished_at),
                "wait_reason": n.wait_reason,
                "workflow_id": n.workflow_id,
            }
            for n in graph.nodes
        ],
        "edges": [{"depends_on": a, "job": b} for a, b in graph.edges],
        "truncated": graph.truncated,
    }


@router.get(
    "/workflows/{workflow_id}",
    response_model=WorkflowGraphOut,
    responses=documented(404),
    summary="A workflow's jobs and dependencies",
)
async def get_workflow(workflow_id: int, state: Api, request: Request) -> JSONResponse:
    """Nodes (jobs, with their state) and edges, plus the jobs outside the workflow that
    it is wired to; cut at 5,000 jobs (``truncated``)."""
    await check_workflow(request, state.client, workflow_id)
    return JSONResponse(graph_json(await state.client.workflow(workflow_id)))
