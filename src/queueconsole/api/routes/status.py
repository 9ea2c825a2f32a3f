"""The installation at a glance: ``/v1/status``, ``/v1/queues``, ``/v1/failures``
(scope ``read``)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from queueconsole.api.auth import Scope, require
from queueconsole.api.models import FailuresOut, QueuesOut, StatusOut
from queueconsole.api.problems import documented
from queueconsole.api.state import Api
from queueconsole.api.tenancy import refuse_bound
from queueconsole.documents import status_document

router = APIRouter(
    prefix="/v1",
    tags=["read"],
    dependencies=[Depends(require(Scope.READ))],
    responses=documented(401, 403, 503),
)


@router.get("/status", response_model=StatusOut, summary="The status --json document")
async def status(state: Api, request: Request) -> JSONResponse:
    """Queues (counts per state, broker depth, paused), workers, services, throughput,
    failures and the doctor's quick checks: exactly ``queueconsole status --json``."""
    refuse_bound(request, "the status document")
    snap, report = await asyncio.gather(state.reader.dashboard(), state.reader.quick_checks())
    return JSONResponse(status_document(snap, report))


@router.get("/queues", response_model=QueuesOut, summary="Every queue")
async def queues(state: Api, request: Request) -> JSONResponse:
    """Paused or not, waiting limit, jobs waiting: ``queueconsole queues --json``."""
    refuse_bound(request, "the queue list")
    return JSONResponse({"queues": [q.to_json() for q in await state.client.queues()]})


@router.get("/failures", response_model=FailuresOut, summary="Failed jobs grouped by error")
async def failures(state: Api, request: Request) -> JSONResponse:
    """Largest group first; retry one with ``POST /v1/failures/{fingerprint}/retry``."""
    refuse_bound(request, "the failure groups")
    section = await state.client.failure_groups()
    if not section.available:
        return JSONResponse(
            {"groups": [], "scanned": 0, "truncated": False, "error": section.error},
            status_code=503,
        )
    return JSONResponse(
        {
            "groups": [g.to_json() for g in section.groups],
            "scanned": section.scanned,
            "truncated": section.truncated,
        }
    )
