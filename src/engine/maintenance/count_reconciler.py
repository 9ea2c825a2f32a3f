"""Counts reconciliation: PostgreSQL's exact counts rewritten into Redis, periodically.

Redis counters are incremented after each commit, so they drift whenever a
write is lost (Redis down, a flush, an eviction, a crash between commit and
hook). PostgreSQL's counts cannot drift: every transition appends its count
delta in the same transaction (:mod:`engine.store.recorder`). Each tick
folds those deltas into ``queue_state_counts`` (so reading the totals stays
cheap) and replaces the Redis counters with the totals, marked whole. Drift
therefore lasts at most one period.

Not to be confused with :mod:`~engine.maintenance.dispatch_reconciler`, which
publishes again jobs whose broker message went missing.
"""

from __future__ import annotations

from engine.config import Settings
from engine.db.connection import Connection, DatabaseHandle
from engine.maintenance.base import PeriodicService
from engine.queries.counts import COUNT_FOLD, COUNT_LIST, COUNT_SOURCE
from engine.status.cache import StatusCache


async def fold_counts(conn: Connection) -> tuple[dict[tuple[str, str], int], str]:
    """Fold pending deltas into the totals; return them and the database's source token
    (:data:`~engine.queries.counts.COUNT_SOURCE`), in the caller's transaction."""
    await conn.execute(COUNT_FOLD)
    totals = {(r.queue, r.state): int(r.jobs) for r in await conn.execute(COUNT_LIST)}
    source = str(await conn.scalar(COUNT_SOURCE))
    return totals, source


class CountReconciler(PeriodicService):
    """Folds PostgreSQL's count deltas and rewrites Redis's counters from the totals.

    Safe to run in several engines at once: folding deletes each delta row once
    (a second folder finds it gone), and each rewrite is the truth of its moment.

    Args:
        settings: the installation (its ``count_reconcile_s`` is the default period).
        db: the engine's database.
        cache: the status cache whose counters to rewrite; by default the reconciler
            opens its own and :meth:`close` closes it.
        period_s: seconds between ticks, overriding the settings.
    """

    name = "count-reconciler"

    def __init__(
        self,
        settings: Settings,
        db: DatabaseHandle,
        cache: StatusCache | None = None,
        *,
        period_s: float | None = None,
    ) -> None:
        super().__init__()
        period = settings.count_reconcile_s if period_s is None else period_s
        if period <= 0:
            raise ValueError("period_s must be positive")
        self.db = db
        self._owns_cache = cache is None
        self.cache = cache if cache is not None else StatusCache(settings)
        self.period_s = period
        self.last_totals: dict[tuple[str, str], int] = {}
        """What the last tick wrote (queue, state) -> jobs."""

    async def tick(self) -> float:
        """Fold, read the totals, rewrite Redis; a down Redis is retried after a back-off."""
        totals, source = await self.db.run(fold_counts)
        await self.cache.write_counts(totals, source)
        self.last_totals = totals
        return self.period_s

    async def close(self) -> None:
        """Close the status cache if this reconciler opened it."""
        if self._owns_cache:
            await self.cache.close()
