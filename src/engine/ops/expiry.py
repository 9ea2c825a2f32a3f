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
left to the claim.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.queries.jobs import JOB_EXPIRE_DUE, JOB_NEXT_EXPIRY_IN
from engine.states import State
from engine.store.changes import ChangeSet, Transition
from engine.store.recorder import record
from engine.store.transitions import _block_descendants  # the cancel path's own propagation

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

EXPIRED = "expired"
"""The reason recorded on an expired job (its event and ``wait_reason``)."""

EXPIRY_BATCH = 1000  # jobs expired per transaction


async def expire_due(conn: AsyncConnection, limit: int = EXPIRY_BATCH) -> ChangeSet:
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


async def next_expiry_in(conn: AsyncConnection) -> float | None:
    """Seconds until the next QUEUED job expires (negative: overdue); None if none has a TTL."""
    value = await conn.scalar(JOB_NEXT_EXPIRY_IN)
    return None if value is None else float(value)
