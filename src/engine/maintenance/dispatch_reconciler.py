"""Dispatch reconciler: publish again the runnable jobs whose message went missing.

Not to be confused with :mod:`~engine.maintenance.count_reconciler`, which repairs
Redis's counters.

A message goes missing when a process dies between commit and publish, a
publish fails while the broker is down, or someone purges a queue. The
database knows how many jobs wait in each queue; the broker knows how many
messages it holds. When the broker holds fewer than the database expects,
the oldest jobs that have waited longer than ``after_s`` are published
again — each at most once per ``after_s``, since a message a busy worker
holds unacked (it claims only what it will start soon) counts as neither
ready nor lost. Duplicates this may create are harmless: claims are fenced
by the attempt number, so a second copy finds nothing to claim.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from engine.db.connection import Connection, DatabaseHandle
from engine.hooks import AfterCommit, run_hooks
from engine.maintenance.base import PeriodicService
from engine.queries.jobs import JOB_QUEUED_PER_QUEUE, JOB_QUEUED_STALE
from engine.store.changes import ChangeSet, Runnable

log = logging.getLogger(__name__)

BATCH = 5000  # jobs published again per queue and tick at most
RECONCILE_AFTER_S = 10.0  # seconds a QUEUED job waits unclaimed before it counts as lost
DepthFn = Callable[[Sequence[str]], Awaitable[Mapping[str, int | None]]]
"""queue names -> messages ready in the broker per queue (None: unknown)."""


class DispatchReconciler(PeriodicService):
    """Compares waiting jobs with broker messages per queue and fills the gap."""

    name = "dispatch-reconciler"

    def __init__(
        self,
        db: DatabaseHandle,
        hooks: Sequence[AfterCommit],
        broker_ready: DepthFn,
        *,
        after_s: float = RECONCILE_AFTER_S,
    ) -> None:
        super().__init__()
        self.db = db
        self.hooks = hooks
        self.broker_ready = broker_ready
        self.after_s = after_s
        self.republished = 0
        self._recent: dict[int, float] = {}
        """job id -> when this reconciler last published it (monotonic)."""

    async def tick(self) -> float:
        period = max(self.after_s / 2, 0.5)

        async def queued_per_queue(conn: Connection) -> Sequence[Any]:
            return (await conn.execute(JOB_QUEUED_PER_QUEUE, {"after_s": self.after_s})).all()

        rows = await self.db.run_single(queued_per_queue)
        candidates = {r.queue: (r.queued, r.stale) for r in rows if r.stale}
        if not candidates:
            return period
        ready = await self.broker_ready(sorted(candidates))
        now = time.monotonic()
        self._recent = {i: t for i, t in self._recent.items() if now - t < self.after_s}
        changes = ChangeSet()
        for queue, (queued, stale) in sorted(candidates.items()):
            in_broker = ready.get(queue)
            if in_broker is None:
                continue  # the broker did not answer: do not guess
            missing = min(queued - in_broker, stale, BATCH)
            if missing <= 0:
                continue
            params = {
                "queue": queue,
                "after_s": self.after_s,
                "limit": missing,
                "recent": list(self._recent),
            }

            async def stale(conn: Connection, params: dict[str, Any] = params) -> Sequence[Any]:
                return (await conn.execute(JOB_QUEUED_STALE, params)).all()

            jobs = await self.db.run_single(stale)
            changes.runnables.extend(Runnable(j.id, j.attempts, j.queue, j.priority) for j in jobs)
            self._recent.update((j.id, now) for j in jobs)
            if not jobs:
                continue
            log.warning(
                "queue %s: %d jobs wait but the broker holds %d messages; published %d again",
                queue,
                queued,
                in_broker,
                len(jobs),
            )
        self.republished += len(changes.runnables)
        await run_hooks(self.hooks, changes)
        return 0.2 if len(changes.runnables) >= BATCH else period
