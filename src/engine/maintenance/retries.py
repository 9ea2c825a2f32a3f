"""Due retries: RETRYING jobs whose backoff ended go back to QUEUED and are published.

The wait is owned by the database clock (``jobs.run_at``), so restarting any
process neither loses nor hurries a retry. The service sleeps until the
earliest ``run_at`` (at most one second), so a retry starts close to its time
without polling hard.
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.db.connection import Connection, DatabaseHandle
from engine.hooks import AfterCommit, run_hooks
from engine.maintenance.base import PeriodicService
from engine.queries.jobs import DB_NOW, JOB_NEXT_RETRY_AT
from engine.store.transitions import requeue_due

BATCH = 1000  # retries requeued per transaction
MAX_SLEEP_S = 1.0  # seconds; the longest wait between looks for due retries


class RetryScheduler(PeriodicService):
    """Requeues due retries in batches."""

    name = "retry-scheduler"

    def __init__(self, db: DatabaseHandle, hooks: Sequence[AfterCommit]) -> None:
        super().__init__()
        self.db = db
        self.hooks = hooks
        self.requeued = 0

    async def tick(self) -> float:
        changes = await self.db.run(lambda conn: requeue_due(conn, BATCH))
        await run_hooks(self.hooks, changes)
        self.requeued += len(changes.runnables)
        if len(changes.runnables) >= BATCH:
            return 0.0
        return await self.db.run_single(_next_retry_in)


async def _next_retry_in(conn: Connection) -> float:
    """Seconds until the earliest retry falls due, between 5 ms and :data:`MAX_SLEEP_S`."""
    next_at = (await conn.execute(JOB_NEXT_RETRY_AT)).scalar()
    if next_at is None:
        return MAX_SLEEP_S
    now = (await conn.execute(DB_NOW)).scalar_one()
    return float(min(max((next_at - now).total_seconds(), 0.005), MAX_SLEEP_S))
