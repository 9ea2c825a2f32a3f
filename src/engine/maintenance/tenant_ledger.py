"""Tenant ledger upkeep: forget (queue, tenant) pairs with nothing live left.

A queue is claimed on the fair-share path (:mod:`engine.store.fair_claim`) while
its ledger (``tenant_queues``) names more than one tenant. Without upkeep, one
job of a second tenant would leave the queue on that slower path for good. A
pair whose tenant has no live job on the queue is deleted here; the tenant's
next submission adds it again, at the queue's virtual time.

A submission racing the delete (its job committed after the delete looked)
may find its pair gone: its jobs then wait on the plain claim until the next
claim or submission of that tenant on the queue joins it again. That costs
fairness for a moment, never a job.
"""

from __future__ import annotations

from engine.db.connection import Connection, DatabaseHandle
from engine.maintenance.base import PeriodicService
from engine.queries.tenants import TENANT_QUEUE_PRUNE

LEDGER_PRUNE_EVERY_S = 30.0  # seconds between sweeps of the fair-share ledger


class TenantLedger(PeriodicService):
    """Deletes ledger pairs whose tenant has no live job on the queue."""

    name = "tenant-ledger"

    def __init__(self, db: DatabaseHandle, *, every_s: float = LEDGER_PRUNE_EVERY_S) -> None:
        super().__init__()
        self.db = db
        self.every_s = every_s

    async def tick(self) -> float:
        async def prune(conn: Connection) -> None:
            await conn.execute(TENANT_QUEUE_PRUNE)

        await self.db.run_single(prune)
        return self.every_s
