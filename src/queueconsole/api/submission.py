"""From request bodies to the engine's JobSpecs, and the engine's refusals back to fields.

A field the request leaves out (or sends as null) is not passed on at all, so
the engine's own default applies. When the engine refuses a submission, the
refusal names the job; :func:`refusal` finds which fields of that job are
wrong by asking the engine about each field on its own, so a 422 lists every
wrong field, as it does for the type errors the models catch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import pydantic
from fastapi.exceptions import RequestValidationError

from engine.errors import CycleError, ValidationError
from engine.specs import JobSpec, prepare
from queueconsole.api.models import JobIn, WorkflowJobIn

_PROBE_TYPE = "probe"  # a valid type for checking one field of a job on its own

M = TypeVar("M", bound=pydantic.BaseModel)


def parse_body(model: type[M], body: bytes) -> M:
    """``body`` (JSON bytes) as ``model``, or the 422 FastAPI itself would raise."""
    try:
        return model.model_validate_json(body)
    except pydantic.ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        ) from None


def given(job: JobIn) -> dict[str, Any]:
    """The fields the request gave a value, as keyword arguments."""
    return job.model_dump(exclude_none=True)


def spec(job: JobIn, tenant: str | None = None) -> JobSpec:
    """The engine's spec of one submitted job (for ``tenant``, when one is given)."""
    fields = given(job)
    if tenant is not None:
        fields["tenant"] = tenant
    if "depends_on" in fields:
        fields["depends_on"] = tuple(fields["depends_on"])
    return JobSpec(**fields)


class SubmissionRefused(ValidationError):
    """The engine's refusal, with the wrong fields located in the request."""

    def __init__(self, message: str, field_errors: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.field_errors = field_errors


def _field_problems(job: JobIn, loc: list[str | int], *, workflow: bool) -> list[dict[str, Any]]:
    problems = []
    for name, value in given(job).items():
        if name == "ref":
            continue
        if name == "depends_on":
            # Refs are checked against the whole workflow, not one job alone.
            value = tuple(d for d in value if not isinstance(d, str))
        probe = {"type": _PROBE_TYPE, name: value}
        try:
            prepare([JobSpec(**probe)], workflow=workflow)
        except ValidationError as exc:
            problems.append({"loc": [*loc, name], "msg": str(exc), "type": "value_error"})
    return problems


def refusal(
    exc: ValidationError, jobs: Sequence[JobIn], *, workflow: bool = False
) -> ValidationError:
    """``exc`` with the request's wrong fields attached (a cycle stays a cycle)."""
    if isinstance(exc, CycleError):
        return exc
    for index, job in enumerate(jobs):
        loc: list[str | int] = ["body", "jobs", index] if len(jobs) > 1 or workflow else ["body"]
        problems = _field_problems(job, loc, workflow=workflow)
        if problems:
            return SubmissionRefused(str(exc), problems)
    where: list[str | int] = ["body"]
    if workflow and isinstance(jobs[0], WorkflowJobIn):
        where = ["body", "jobs"]
    return SubmissionRefused(str(exc), [{"loc": where, "msg": str(exc), "type": "value_error"}])
