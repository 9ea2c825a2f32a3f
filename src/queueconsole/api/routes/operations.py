"""Cancel, retry, failure-group retry, pause, resume and limits: scope ``operate``.

Each answer says what changed, as the console's confirmation does before it
acts: the job's own move, every other job that moved (``affected``), and
among them the dependents ``released`` (blocked jobs that may run again) and
``blocked``.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from engine.client import ChangeSet
from engine.queues.pausing import PauseChange
from engine.states import State
from queueconsole.api.auth import Scope, require
from queueconsole.api.models import ChangeOut, GroupRetriedOut, LimitIn, PauseOut, QueueOut
from queueconsole.api.problems import documented
from queueconsole.api.state import Api
from queueconsole.api.tenancy import check_job, refuse_bound

router = APIRouter(
    prefix="/v1",
    tags=["operate"],
    dependencies=[Depends(require(Scope.OPERATE))],
    responses=documented(401, 403, 404, 409, 422, 503),
)

_RELEASED_TO = (State.PENDING, State.QUEUED)


def change_json(job_id: int, changes: ChangeSet) -> dict[str, object]:
    """``cancel --json`` / ``retry --json``, plus the dependents released and blocked."""
    moves = [t for t in changes.transitions if not t.is_note]
    own = next(t for t in moves if t.job_id == job_id)
    others = [t for t in moves if t.job_id != job_id]
    return {
        "id": job_id,
        "from": own.from_state.value if own.from_state else None,
        "state": own.to_state.value,
        "affected": [
            {
                "id": t.job_id,
                "from": t.from_state.value if t.from_state else None,
                "to": t.to_state.value,
            }
            for t in others
        ],
        "released": [
            t.job_id for t in others if t.from_state is State.BLOCKED and t.to_state in _RELEASED_TO
        ],
        "blocked": [t.job_id for t in others if t.to_state is State.BLOCKED],
    }


@router.post("/jobs/{job_id}/cancel", response_model=ChangeOut, summary="Cancel a job")
async def cancel_job(job_id: int, state: Api, request: Request) -> JSONResponse:
    """A live job becomes cancelled (a running one is stopped on its worker); its pending
    dependents become blocked. 409 when the job has already finished."""
    await check_job(request, state.client, job_id)
    return JSONResponse(change_json(job_id, await state.client.cancel(job_id)))


@router.post("/jobs/{job_id}/retry", response_model=ChangeOut, summary="Retry a job")
async def retry_job(job_id: int, state: Api, request: Request) -> JSONResponse:
    """A failed or cancelled job runs again with a fresh attempt budget (a retrying one runs
    now); blocked dependents are released when it completes. 409 for other states."""
    await check_job(request, state.client, job_id)
    return JSONResponse(change_json(job_id, await state.client.retry(job_id)))


@router.post(
    "/failures/{fingerprint}/retry",
    response_model=GroupRetriedOut,
    summary="Retry every failed job of a failure group",
)
async def retry_group(fingerprint: str, state: Api, request: Request) -> JSONResponse:
    """The group's key is the ``fingerprint`` of ``GET /v1/failures``. 404 when no failed
    job is left in it."""
    refuse_bound(request, "a failure group")
    done = await state.client.retry_group(fingerprint)
    return JSONResponse(
        {
            "fingerprint": done.fingerprint,
            "retried": done.retried,
            "skipped": done.skipped,
            "released": done.released,
            "batches": done.batches,
        }
    )


def _pause_json(change: PauseChange) -> dict[str, object]:
    return {**change.queue.to_json(), "changed": change.changed, "republished": change.republished}


@router.post("/queues/{name}/pause", response_model=PauseOut, summary="Pause a queue")
async def pause_queue(name: str, state: Api, request: Request) -> JSONResponse:
    """Jobs are still accepted; none starts on any worker; running ones finish."""
    refuse_bound(request, "a queue")
    return JSONResponse(_pause_json(await state.client.pause_queue(name)))


@router.post("/queues/{name}/resume", response_model=PauseOut, summary="Resume a queue")
async def resume_queue(name: str, state: Api, request: Request) -> JSONResponse:
    """Its queued jobs are published again (``republished``)."""
    refuse_bound(request, "a queue")
    return JSONResponse(_pause_json(await state.client.resume_queue(name)))


@router.put("/queues/{name}/limit", response_model=QueueOut, summary="Set a queue's limit")
async def set_limit(name: str, body: LimitIn, state: Api, request: Request) -> JSONResponse:
    """At most ``limit`` jobs waiting (pending, queued, retrying, blocked); null lifts it.
    A submission past the limit is refused with 429."""
    refuse_bound(request, "a queue")
    return JSONResponse((await state.client.set_queue_limit(name, body.limit)).to_json())
