"""Job TTL: a job that was not started within ``ttl_s`` of becoming QUEUED is cancelled.

The clock starts at ``queued_at``, every time the job becomes QUEUED (submitted
with nothing to wait for, its last dependency completed, a retry's backoff
ended, an operator's retry). PENDING and BLOCKED jobs wait for their
dependencies without a clock running; a RUNNING job never expires. An expired
job goes QUEUED -> CANCELLED with the reason ``expired`` (event trail, counts,
``wait_reason``), and every PENDING job downstream becomes BLOCKED, exactly as
if an operator had cancelled it. Retrying it queues it again with a fresh TTL.

The database clock decides (``now()``); engines share the work with
``FOR UPDATE SKIP LOCKED``, and a job a worker is claiming at that moment is
left to the claim. :class:`ExpiryService` runs in every engine; jobs with a TTL
submitted by another process are noticed within :data:`EXPIRY_POLL_MAX_S`.
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.config import Settings
from engine.db.connection import Connection, DatabaseHandle
from engine.hooks import AfterCommit, run_hooks
from engine.maintenance.base import DueWorkService
from engine.queries.jobs import JOB_EXPIRE_DUE, JOB_NEXT_EXPIRY_IN
from engine.states import State
from engine.store.changes import ChangeSet, Transition
from engine.store.recorder import record
from engine.store.transitions import _block_descendants  # the cancel path's own propagation

EXPIRED = "expired"
"""The reason recorded on an expired job (its event and ``wait_reason``)."""

EXPIRY_BATCH = 1000  # jobs expired per transaction
EXPIRY_POLL_MAX_S = 1.0  # seconds; the longest wait between looks for expired jobs


async def expire_due(conn: Connection, limit: int = EXPIRY_BATCH) -> ChangeSet:
    """QUEUED -> CANCELLED (``expired``) for up to ``limit`` jobs whose TTL ran out."""
    changes = ChangeSet()
    rows = (await conn.execute(JOB_EXPIRE_DUE, {"limit": limit, "reason": EXPIRED})).all()
    for r in rows:
        changes.transitions.append(
            Transition.of_row(
                r,
                State.QUEUED,
                State.CANCELLED,
                None,
                EXPIRED,
                queued_at=r.queued_at,
                finished_at=r.finished_at,
            )
        )
    if rows:
        changes.extend(await _block_descendants(conn, [r.id for r in rows], EXPIRED))
    await record(conn, changes.transitions)
    return changes


async def next_expiry_in(conn: Connection) -> float | None:
    """Seconds until the next QUEUED job expires (negative: overdue); None if none has a TTL."""
    value = await conn.scalar(JOB_NEXT_EXPIRY_IN)
    return None if value is None else float(value)


class ExpiryService(DueWorkService):
    """Expires jobs in batches and runs the after-commit hooks (status cache, events)."""

    name = "expiry"

    def __init__(
        self,
        settings: Settings,
        db: DatabaseHandle,
        hooks: Sequence[AfterCommit] = (),
        *,
        batch: int = EXPIRY_BATCH,
        poll_max_s: float = EXPIRY_POLL_MAX_S,
    ) -> None:
        super().__init__(settings, db, hooks, batch=batch, poll_max_s=poll_max_s)
        self.expired = 0
        """Jobs this service expired since it started."""

    async def tick(self) -> float:
        """Expire one batch; wait until the next expiry (at most ``poll_max_s``)."""
        changes = await self.db.run(lambda conn: expire_due(conn, self.batch))
        await run_hooks(self.hooks, changes)
        n = sum(
            1
            for t in changes.transitions
            if t.from_state is State.QUEUED and t.to_state is State.CANCELLED
        )
        self.expired += n
        return await self.wait_after(n, next_expiry_in)
