"""``POST /v1/jobs``, ``POST /v1/jobs:batch``, ``POST /v1/workflows``: scope ``submit``.

Each is one transaction in the engine (all or nothing); a refused submission
writes nothing and its 422 names every wrong field. Responses are built as
JSON directly: the submit path is the API's hot path, and the response models
are there for the documentation.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from engine.client import Submitted
from engine.errors import ValidationError
from queueconsole.api.auth import Scope, require
from queueconsole.api.models import BatchIn, BatchOut, JobIn, SubmittedOut, WorkflowIn, WorkflowOut
from queueconsole.api.problems import documented
from queueconsole.api.state import Api, state_of
from queueconsole.api.submission import given, parse_body, refusal, spec
from queueconsole.api.tenancy import submit_tenant

router = APIRouter(
    prefix="/v1",
    tags=["submit"],
    dependencies=[Depends(require(Scope.SUBMIT))],
    responses=documented(401, 403, 413, 422, 429, 503),
)


def _submitted(s: Submitted) -> dict[str, object]:
    return {"id": s.id, "state": s.state.value, "duplicate": s.duplicate}


@router.post(
    "/jobs",
    status_code=201,
    response_model=SubmittedOut,
    responses={200: {"model": SubmittedOut, "description": "A live job holds the key"}},
    summary="Submit one job",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/JobIn"}}},
        }
    },
)
async def submit_job(request: Request) -> JSONResponse:
    """201 with the new job, or 200 with ``duplicate: true`` when a live job already holds
    ``idempotency_key`` (nothing new is submitted)."""
    # The API's hot path: the body is validated from its bytes by pydantic in one call,
    # not parsed to Python first and then handed through FastAPI's body machinery.
    job = parse_body(JobIn, await request.body())
    state = state_of(request)
    fields = given(job)
    tenant = submit_tenant(request, fields.pop("tenant", None))
    if tenant is not None:
        fields["tenant"] = tenant
    try:
        submitted = await state.client.submit(fields.pop("type"), **fields)
    except ValidationError as exc:
        raise refusal(exc, [job]) from None
    return JSONResponse(_submitted(submitted), status_code=200 if submitted.duplicate else 201)


@router.post(
    "/jobs:batch",
    status_code=201,
    response_model=BatchOut,
    summary="Submit up to 10,000 independent jobs, all or nothing",
)
async def submit_batch(batch: BatchIn, state: Api, request: Request) -> JSONResponse:
    """One transaction: every job is written, or (on any refusal) none. ``ids`` are in the
    order the jobs were sent."""
    specs = [spec(j, submit_tenant(request, j.tenant)) for j in batch.jobs]
    try:
        submitted = await state.client.submit_many(specs)
    except ValidationError as exc:
        raise refusal(exc, batch.jobs) from None
    return JSONResponse(
        {"ids": [s.id for s in submitted], "jobs": [_submitted(s) for s in submitted]},
        status_code=201,
    )


@router.post(
    "/workflows",
    status_code=201,
    response_model=WorkflowOut,
    summary="Submit a workflow: jobs that depend on each other by ref",
)
async def submit_workflow(workflow: WorkflowIn, state: Api, request: Request) -> JSONResponse:
    """All jobs and edges in one transaction. A cycle is a 422 whose ``cycle`` lists the
    refs on it; an unknown ref or id is a 422 too, and nothing is written."""
    specs = [spec(j, submit_tenant(request, j.tenant)) for j in workflow.jobs]
    try:
        result = await state.client.submit_workflow(specs, name=workflow.name)
    except ValidationError as exc:
        raise refusal(exc, workflow.jobs, workflow=True) from None
    return JSONResponse({"workflow_id": result.workflow_id, "jobs": result.ids}, status_code=201)
