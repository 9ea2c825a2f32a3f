"""Retention: removes finished jobs older than the configured age, in bounded batches.

Off unless ``retention_age`` is set (e.g. ``7d``): the service then only rests.
Each tick removes at most :data:`RETENTION_BATCHES_PER_TICK` batches, so an
engine with a large backlog of old jobs works through it in steps (ticking
again at once) instead of one long run; then it rests
:data:`RETENTION_INTERVAL_S`. Several engines may run it: batches lock their
rows ``SKIP LOCKED`` and never remove a job twice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta

from engine.config import Settings
from engine.db.database import Database
from engine.hooks import AfterCommit
from engine.ops.durations import parse_duration
from engine.ops.retention import PruneResult, check_batch_size, prune
from engine.services.base import PeriodicService

log = logging.getLogger(__name__)

RETENTION_INTERVAL_S = 300.0  # seconds between runs once nothing old is left
RETENTION_BATCHES_PER_TICK = 100  # batches per tick before yielding to the next tick


class RetentionService(PeriodicService):
    """Prunes finished jobs older than ``retention_age``.

    Args:
        settings: ``retention_age`` (empty: the service is off and only rests) and
            ``retention_batch_size``.
        db: the engine's database.
        hooks: unused: removing finished jobs publishes nothing.
        older_than: overrides ``retention_age``.
        interval_s: the rest between runs when nothing is left to remove.
        batches_per_tick: the bound on one tick's work.
    """

    name = "retention"

    def __init__(
        self,
        settings: Settings,
        db: Database,
        hooks: Sequence[AfterCommit] = (),
        *,
        older_than: timedelta | None = None,
        interval_s: float = RETENTION_INTERVAL_S,
        batches_per_tick: int = RETENTION_BATCHES_PER_TICK,
    ) -> None:
        super().__init__()
        if older_than is None and settings.retention_age:
            older_than = parse_duration(settings.retention_age, "retention_age")
        if older_than is not None and older_than <= timedelta(0):
            raise ValueError("older_than must be positive")
        if interval_s <= 0 or batches_per_tick < 1:
            raise ValueError("interval_s and batches_per_tick must be positive")
        self.db = db
        self.older_than = older_than
        """None: retention is off."""
        self.batch_size = check_batch_size(settings.retention_batch_size)
        self.interval_s = interval_s
        self.batches_per_tick = batches_per_tick
        self.last_result: PruneResult | None = None
        """What the latest tick removed."""
        self.removed = 0
        """Jobs removed since the service started."""

    @property
    def enabled(self) -> bool:
        """Whether this service removes anything (an age is configured)."""
        return self.older_than is not None

    async def tick(self) -> float:
        """Remove up to ``batches_per_tick`` batches; again at once if more is left."""
        if self.older_than is None:
            return self.interval_s
        result = await prune(
            self.db,
            self.older_than,
            batch_size=self.batch_size,
            max_batches=self.batches_per_tick,
        )
        self.last_result = result
        self.removed += result.total_jobs
        if result.total_jobs:
            log.info(
                "retention removed %d jobs finished before %s (%d kept)",
                result.total_jobs,
                result.cutoff.isoformat(),
                result.kept,
            )
        return 0.0 if result.more else self.interval_s
