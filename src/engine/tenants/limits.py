"""Tenant checks of a submission: the tenant must exist, and stay within ``max_waiting``.

Run inside the submit transaction, before anything is written, together with
the queue limits (:mod:`engine.queues.limits`): a refused submission, a whole
workflow included, leaves no trace. A limited tenant's row is locked for the
rest of that transaction, so two submissions to one full tenant take turns and
the second counts the first one's jobs; tenants without a limit take no lock.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from engine.db.connection import Connection
from engine.errors import UserError
from engine.queries.tenants import TENANT_KNOWN_MANY, TENANT_WAITING_LOCK, TENANT_WAITING_MANY


class UnknownTenant(UserError):
    """A tenant name no operator added."""

    def __init__(self, tenant: str) -> None:
        self.tenant = tenant
        super().__init__(
            f"tenant {tenant!r} does not exist; add it with `queueconsole tenant add {tenant}`"
        )


class TenantFull(UserError):
    """A submission that would leave more of a tenant's jobs waiting than its limit allows."""

    def __init__(self, tenant: str, limit: int, waiting: int, adding: int) -> None:
        self.tenant = tenant
        self.limit = limit
        self.waiting = waiting
        self.adding = adding
        super().__init__(
            f"tenant {tenant!r} is at its waiting limit: {waiting:,} jobs waiting, "
            f"limit {limit:,}; this submission of {adding:,} job{'s' if adding != 1 else ''} "
            "was refused and nothing was written"
        )


async def check_tenant_limits(conn: Connection, new_job_tenants: Iterable[str]) -> None:
    """Raise :class:`UnknownTenant` or :class:`TenantFull` for the new jobs (one tenant
    name each). Must run in the submitting transaction, before the jobs are inserted."""
    adding = Counter(new_job_tenants)
    if not adding:
        return
    names = sorted(adding)
    known = {r.name: r.max_waiting for r in await conn.execute(TENANT_KNOWN_MANY, {"names": names})}
    for name in names:
        if name not in known:
            raise UnknownTenant(name)
    limited = [n for n in names if known[n] is not None]
    if not limited:
        return
    limits = {
        r.name: int(r.max_waiting)
        for r in await conn.execute(TENANT_WAITING_LOCK, {"names": limited})
    }
    waiting = {
        r.tenant: int(r.waiting)
        for r in await conn.execute(TENANT_WAITING_MANY, {"names": sorted(limits)})
    }
    for name in sorted(limits):
        if waiting.get(name, 0) + adding[name] > limits[name]:
            raise TenantFull(name, limits[name], waiting.get(name, 0), adding[name])
