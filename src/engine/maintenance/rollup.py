"""Minute rollup: per-queue history of each finished minute, kept in ``queue_minutes``.

What: for every closed minute and queue, the jobs that finished in it
(completed, failed) and their wait from ``queued_at`` to ``started_at`` (p50,
p95, ``percentile_disc``: a wait some job really had). Each tick also samples
every queue's depth (queued, running, retrying, pending) into the current
minute, and prunes rows older than :data:`ROLLUP_KEEP_MIN`.

Why the finished minute: a finished job's timestamps never change again, so a
minute rolled up once is final, and ``jobs_finished_at_idx (finished_at, id)``
reads exactly that minute's rows; grouping by the minute a job *started* would
need an index nobody else pays for, and a minute could still change long after.

How: one transaction per batch of at most :data:`ROLLUP_BATCH_MIN` minutes. It
locks the one-row marker ``queue_minute_rollup`` (``SKIP LOCKED``: another
engine rolling up makes this one rest), upserts the batch's rows (``ON
CONFLICT`` rewrites a minute with the same figures, so a minute rolled up
twice is harmless) and moves the marker. A minute is closed once
:data:`ROLLUP_SETTLE_S` has passed since its end: ``finished_at`` is the
finishing transaction's start, so a finish may commit a little after its
minute. The first run, and an engine back after downtime, backfill up to
:data:`ROLLUP_BACKFILL_MIN` minutes (going again at once after each full batch).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from engine.db.connection import Connection, DatabaseHandle
from engine.maintenance.base import PeriodicService
from engine.queries.queue_minutes import (
    QUEUE_MINUTE_DEPTH_SAMPLE,
    QUEUE_MINUTE_PRUNE,
    QUEUE_MINUTE_ROLLUP_ADVANCE,
    QUEUE_MINUTE_ROLLUP_INIT,
    QUEUE_MINUTE_ROLLUP_LOCK,
    QUEUE_MINUTE_ROLLUP_MARKER,
    QUEUE_MINUTE_ROLLUP_STORE,
)

log = logging.getLogger(__name__)

ROLLUP_BATCH_MIN = 5  # minutes rolled up per transaction (at 1,000 jobs/s: 300,000 rows)
ROLLUP_BACKFILL_MIN = 24 * 60  # minutes of history a first or late run fills in
ROLLUP_SETTLE_S = 15.0  # seconds after a minute's end before it is rolled up
ROLLUP_KEEP_MIN = 7 * 24 * 60  # minutes of history kept
ROLLUP_PRUNE_BATCH = 10_000  # rows removed per prune statement
ROLLUP_REST_S = 5.0  # seconds to rest while another engine holds the marker


@dataclass(frozen=True, slots=True)
class RollupBatch:
    """What one :func:`rollup_batch` did."""

    start: datetime | None
    """First minute of the batch (None: nothing was due, or another engine held it)."""
    end: datetime | None
    """The minute after the batch: the marker now."""
    rows: int
    """(minute, queue) rows written."""
    more: bool
    """True when closed minutes are left after this batch (backfill)."""
    busy: bool
    """True when another engine held the marker."""
    next_in_s: float
    """Seconds until the next minute closes (after a batch that left nothing due)."""


async def rollup_batch(
    conn: Connection,
    *,
    batch_min: int = ROLLUP_BATCH_MIN,
    backfill_min: int = ROLLUP_BACKFILL_MIN,
    settle_s: float = ROLLUP_SETTLE_S,
) -> RollupBatch:
    """Roll up the next closed minutes (at most ``batch_min``), in the caller's transaction."""
    lock = {"backfill_min": backfill_min, "settle_s": settle_s}
    row = (await conn.execute(QUEUE_MINUTE_ROLLUP_LOCK, lock)).first()
    if row is None and await conn.scalar(QUEUE_MINUTE_ROLLUP_MARKER) is None:
        # The first run anywhere: make the marker (another engine's first run waits here
        # for ours to commit, then finds it made), then lock it.
        await conn.execute(QUEUE_MINUTE_ROLLUP_INIT, {"backfill_min": backfill_min})
        row = (await conn.execute(QUEUE_MINUTE_ROLLUP_LOCK, lock)).first()
    if row is None:
        return RollupBatch(None, None, 0, False, True, ROLLUP_REST_S)
    start: datetime = row.start
    closed: datetime = row.closed
    until_next = 60.0 - (row.now - closed).total_seconds() + settle_s + 0.5
    if closed <= start:
        return RollupBatch(None, start, 0, False, False, max(until_next, 0.5))
    minutes = min(int((closed - start).total_seconds() // 60), batch_min)
    end = start + timedelta(minutes=minutes)
    rows = int(await conn.scalar(QUEUE_MINUTE_ROLLUP_STORE, {"start": start, "end": end}) or 0)
    await conn.execute(QUEUE_MINUTE_ROLLUP_ADVANCE, {"end": end})
    more = end < closed
    return RollupBatch(start, end, rows, more, False, 0.0 if more else max(until_next, 0.5))


async def sample_depth(conn: Connection) -> None:
    """Write every queue's depth now into the current minute's rows."""
    await conn.execute(QUEUE_MINUTE_DEPTH_SAMPLE)


async def prune_minutes(
    conn: Connection, *, keep_min: int = ROLLUP_KEEP_MIN, limit: int = ROLLUP_PRUNE_BATCH
) -> int:
    """Remove up to ``limit`` rows older than ``keep_min`` minutes; how many went."""
    return int(await conn.scalar(QUEUE_MINUTE_PRUNE, {"keep_min": keep_min, "limit": limit}) or 0)


class MinuteRollup(PeriodicService):
    """Rolls up each closed minute into ``queue_minutes``, samples depth, prunes.

    Safe with several engines: the marker row is locked ``SKIP LOCKED`` per batch, and
    an upsert of a minute already stored writes the same figures again.

    Args:
        db: the engine's database.
        batch_min: minutes per transaction.
        backfill_min: how far back a first run (or one after downtime) fills in.
        settle_s: how long after a minute's end it is rolled up.
        keep_min: how long rows are kept.
    """

    name = "minute-rollup"

    def __init__(
        self,
        db: DatabaseHandle,
        *,
        batch_min: int = ROLLUP_BATCH_MIN,
        backfill_min: int = ROLLUP_BACKFILL_MIN,
        settle_s: float = ROLLUP_SETTLE_S,
        keep_min: int = ROLLUP_KEEP_MIN,
    ) -> None:
        super().__init__()
        if batch_min < 1 or backfill_min < 1 or keep_min < 1:
            raise ValueError("batch_min, backfill_min and keep_min must be at least 1")
        if settle_s < 0:
            raise ValueError("settle_s must not be negative")
        self.db = db
        self.batch_min = batch_min
        self.backfill_min = backfill_min
        self.settle_s = settle_s
        self.keep_min = keep_min
        self.last_batch: RollupBatch | None = None
        """What the latest tick rolled up."""

    async def tick(self) -> float:
        """One batch; again at once while backfilling, else after the next minute closes."""

        async def batch(conn: Connection) -> RollupBatch:
            return await rollup_batch(
                conn,
                batch_min=self.batch_min,
                backfill_min=self.backfill_min,
                settle_s=self.settle_s,
            )

        done = await self.db.run(batch)
        self.last_batch = done
        if done.more:
            return 0.0
        await self.db.run(sample_depth)
        pruned = ROLLUP_PRUNE_BATCH
        while pruned >= ROLLUP_PRUNE_BATCH:

            async def prune(conn: Connection) -> int:
                return await prune_minutes(conn, keep_min=self.keep_min)

            pruned = await self.db.run(prune)
        return done.next_in_s
