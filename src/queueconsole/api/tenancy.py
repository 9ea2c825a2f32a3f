"""Tenant-bound tokens: what such a token may see and act on.

A token bound to a tenant sees, submits and operates on that tenant's jobs
only. Another tenant's job id answers 404 exactly as an id that names no job,
so a bound token cannot even learn which ids exist; its listings and event
streams are narrowed to its tenant; its submissions default to its tenant and
may not name another. Routes whose answer or effect spans every tenant (the
dashboard, queue pause and limits, failure groups) are refused with 403.
Unbound tokens (and ``--no-auth``) see everything.
"""

from __future__ import annotations

from fastapi import HTTPException
from starlette.requests import HTTPConnection

from engine.client import Client
from engine.errors import JobNotFound, WorkflowNotFound
from queueconsole.api.events.filters import token_tenant

__all__ = ["check_job", "check_workflow", "refuse_bound", "submit_tenant", "token_tenant"]


async def check_job(connection: HTTPConnection, client: Client, job_id: int) -> None:
    """Raise the 404 of an unknown job when ``job_id`` is another tenant's."""
    tenant = token_tenant(connection)
    if tenant is not None and await client.job_tenant(job_id) != tenant:
        raise JobNotFound(job_id)


async def check_workflow(connection: HTTPConnection, client: Client, workflow_id: int) -> None:
    """Raise the 404 of an unknown workflow when ``workflow_id`` is another tenant's."""
    tenant = token_tenant(connection)
    if tenant is not None and await client.workflow_tenant(workflow_id) != tenant:
        raise WorkflowNotFound(workflow_id)


def refuse_bound(connection: HTTPConnection, what: str) -> None:
    """403 for a tenant-bound token on a route that spans every tenant."""
    tenant = token_tenant(connection)
    if tenant is not None:
        raise HTTPException(
            403,
            f"{what} spans every tenant; this token is bound to tenant {tenant!r} "
            "(use a token without --tenant)",
        )


def submit_tenant(connection: HTTPConnection, given: str | None) -> str | None:
    """The tenant a submission is for: the token's when bound (naming another is 403)."""
    tenant = token_tenant(connection)
    if tenant is None:
        return given
    if given is not None and given != tenant:
        raise HTTPException(
            403, f"this token is bound to tenant {tenant!r} and cannot submit for {given!r}"
        )
    return tenant
