"""Errors as RFC 9457 problem details (``application/problem+json``), everywhere.

Every refusal, whether FastAPI's own (unknown route, bad JSON, a wrong field)
or the engine's (:class:`~engine.errors.UserError`), leaves as one JSON object
with ``type``, ``title``, ``status`` and ``detail``; a 422 adds ``errors``, one
entry per wrong field (``loc`` is where in the request: ``["body", "jobs", 3,
"max_retries"]``). No traceback is ever sent: an unexpected error is logged here
and answered with a plain 500.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from engine.errors import (
    CycleError,
    EmptyFailureGroup,
    IllegalTransition,
    JobNotFound,
    ServiceUnavailable,
    UserError,
    WorkflowNotFound,
)
from engine.queues.limits import QueueFull
from engine.tenants.limits import TenantFull

log = logging.getLogger(__name__)

PROBLEM_TYPE = "application/problem+json"
TYPE_BASE = "https://queueconsole.dev/problems/"  # a stable name per kind of problem

_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request body too large",
    422: "Unprocessable request",
    429: "Queue full",
    500: "Internal error",
    503: "Service unavailable",
}


class FieldError(BaseModel):
    """One wrong field of a request."""

    loc: list[str | int] = Field(description='Where: e.g. ["body", "jobs", 3, "max_retries"]')
    msg: str = Field(description="What is wrong with it")
    type: str = Field(description="A short machine-readable kind, e.g. missing, int_type")


class Problem(BaseModel):
    """An error response (RFC 9457 problem details)."""

    type: str = Field(description="A URI naming the kind of problem")
    title: str
    status: int
    detail: str = Field(description="What went wrong, in one sentence")
    errors: list[FieldError] | None = Field(default=None, description="422 only: every wrong field")
    cycle: list[str] | None = Field(
        default=None, description="A workflow's dependency cycle: the refs on it, in order"
    )


class ProblemResponse(JSONResponse):
    """A problem details body with its media type."""

    media_type = PROBLEM_TYPE


def problem(
    status: int,
    detail: str,
    *,
    kind: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> ProblemResponse:
    """A problem+json response; ``extra`` members (``errors``, ``cycle``) are added."""
    body: dict[str, Any] = {
        "type": TYPE_BASE + (kind or _slug(status)),
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    body.update({k: v for k, v in extra.items() if v is not None})
    return ProblemResponse(body, status_code=status, headers=headers)


def _slug(status: int) -> str:
    return _TITLES.get(status, "error").lower().replace(" ", "-")


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error statuses, each a :class:`Problem`."""
    return {
        s: {
            "model": Problem,
            "description": _TITLES.get(s, "Error"),
            "content": {PROBLEM_TYPE: {}},
        }
        for s in statuses
    }


def problem_media_types(spec: dict[str, Any]) -> dict[str, Any]:
    """``spec`` with each error response's schema under ``application/problem+json`` only.

    FastAPI files a response model under ``application/json``; an error response
    declared by :func:`documented` is sent as problem+json, so its schema moves there.
    """
    for path in spec.get("paths", {}).values():
        for operation in path.values():
            for response in operation.get("responses", {}).values():
                content = response.get("content", {})
                if PROBLEM_TYPE in content and "application/json" in content:
                    content[PROBLEM_TYPE] = content.pop("application/json")
    return spec


# -- exception handlers ---------------------------------------------------------


def _field_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    out = []
    for e in errors:
        loc = [p if isinstance(p, int) else str(p) for p in e.get("loc", ())]
        out.append({"loc": loc, "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))})
    return out


async def _validation(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, RequestValidationError)
    errors = _field_errors(exc.errors())
    names = ", ".join(".".join(str(p) for p in e["loc"][1:]) or e["loc"][0] for e in errors)
    return problem(422, f"invalid request: {names}", kind="invalid-request", errors=errors)


async def _http(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else _TITLES.get(exc.status_code, "Error")
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"no route {request.method} {request.url.path}; see /docs"
    headers = dict(exc.headers) if exc.headers else None
    return problem(exc.status_code, detail, headers=headers)


async def _user_error(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, UserError)
    if isinstance(exc, JobNotFound | WorkflowNotFound | EmptyFailureGroup):
        return problem(404, str(exc))
    if isinstance(exc, IllegalTransition):
        return problem(409, str(exc), kind="illegal-transition")
    if isinstance(exc, QueueFull):
        return problem(429, str(exc), kind="queue-full")
    if isinstance(exc, TenantFull):
        return problem(429, str(exc), kind="tenant-full")
    if isinstance(exc, CycleError):
        return problem(422, str(exc), kind="dependency-cycle", cycle=list(exc.cycle))
    # Anything else a user can cause is a request the engine cannot accept as it is.
    return problem(422, str(exc), kind="invalid-request", errors=getattr(exc, "field_errors", None))


async def _unavailable(request: Request, exc: Exception) -> ProblemResponse:
    # The message names the service and its masked URL; it is safe to send.
    return problem(503, str(exc), headers={"Retry-After": "5"})


async def _unexpected(request: Request, exc: Exception) -> ProblemResponse:
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return problem(500, "the server failed to answer; the error is in its log")


def install(app: FastAPI) -> None:
    """Answer every error the app can raise with a problem+json body."""
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(UserError, _user_error)
    app.add_exception_handler(ServiceUnavailable, _unavailable)
    app.add_exception_handler(Exception, _unexpected)
