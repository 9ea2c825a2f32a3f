"""Tenant release: publish again the jobs a tenant's running limit held back.

A claim that finds a tenant at its ``max_running`` leaves the job QUEUED with
the reason ("tenant T at its running limit 4/4") and acks its message: the
limit is the database's to keep (:mod:`engine.store.fair_claim`), not the
broker's. Once runs of that tenant end, this service publishes as many of its
held jobs as there is room for, best first, so they start within a tick. A job
it published is not published again for :data:`RELEASE_AGAIN_S`; if that copy
goes missing, the dispatch reconciler finds it like any other.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from engine.db.connection import Connection, DatabaseHandle
from engine.hooks import AfterCommit, run_hooks
from engine.maintenance.base import PeriodicService
from engine.queries.jobs import JOB_TENANT_LIMIT_WAITING
from engine.queries.tenants import TENANT_ROOM_MANY
from engine.store.changes import ChangeSet, Runnable

RELEASE_PERIOD_S = 0.25  # seconds between looks while some tenant has a running limit
IDLE_PERIOD_S = 2.0  # seconds between looks while none has
RELEASE_AGAIN_S = 5.0  # seconds before a job published here may be published again


class TenantRelease(PeriodicService):
    """Publishes held jobs of limited tenants as their runs end."""

    name = "tenant-release"

    def __init__(self, db: DatabaseHandle, hooks: Sequence[AfterCommit]) -> None:
        super().__init__()
        self.db = db
        self.hooks = hooks
        self.released = 0
        self._recent: dict[int, float] = {}
        """job id -> when this service last published it (monotonic)."""

    async def tick(self) -> float:
        now = time.monotonic()
        self._recent = {i: t for i, t in self._recent.items() if now - t < RELEASE_AGAIN_S}
        recent = list(self._recent)

        async def held(conn: Connection) -> tuple[bool, list[Any]]:
            rows = (await conn.execute(TENANT_ROOM_MANY)).all()
            found: list[Any] = []
            for r in rows:
                room = int(r.max_running) - int(r.running)
                if room > 0:
                    found.extend(
                        await conn.execute(
                            JOB_TENANT_LIMIT_WAITING,
                            {"tenant": r.name, "limit": room, "recent": recent},
                        )
                    )
            return bool(rows), found

        limited, jobs = await self.db.run_single(held)
        if jobs:
            changes = ChangeSet()
            changes.runnables.extend(Runnable(j.id, j.attempts, j.queue, j.priority) for j in jobs)
            self._recent.update((j.id, now) for j in jobs)
            self.released += len(jobs)
            await run_hooks(self.hooks, changes)
        return RELEASE_PERIOD_S if limited else IDLE_PERIOD_S
