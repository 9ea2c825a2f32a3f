"""The cron scheduler: fires due schedules on the database clock.

Runs in every engine; several at once are safe (each tick fires exactly once,
see :mod:`engine.ops.schedules`). Schedules added by another process (the
command line, another engine) are noticed within :data:`SCHEDULER_POLL_MAX_S`.
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.config import Settings
from engine.db.database import Database
from engine.hooks import AfterCommit, run_hooks
from engine.ops.schedules import FIRE_BATCH, fire_due, next_due_in
from engine.services.base import PeriodicService

SCHEDULER_POLL_MAX_S = 1.0  # seconds; the longest wait between looks at the schedules
SCHEDULER_POLL_MIN_S = 0.05  # seconds; never spin faster than this on a tick not yet due


class ScheduleService(PeriodicService):
    """Fires due schedules and publishes their jobs after commit.

    Args:
        settings: the installation (unused today; every engine service takes it first).
        db: the engine's database.
        hooks: after-commit hooks (publisher, status cache) for the submitted jobs.
        batch: schedules fired per transaction.
        poll_max_s: the longest wait between rounds.
    """

    name = "scheduler"

    def __init__(
        self,
        settings: Settings,
        db: Database,
        hooks: Sequence[AfterCommit] = (),
        *,
        batch: int = FIRE_BATCH,
        poll_max_s: float = SCHEDULER_POLL_MAX_S,
    ) -> None:
        super().__init__()
        if batch < 1:
            raise ValueError("batch must be at least 1")
        if poll_max_s <= 0:
            raise ValueError("poll_max_s must be positive")
        self.settings = settings
        self.db = db
        self.hooks = list(hooks)
        self.batch = batch
        self.poll_max_s = poll_max_s
        self.fired = 0
        """Ticks fired by this service since it started (jobs submitted or refused)."""

    async def tick(self) -> float:
        """Fire what is due; wait until the next tick (at most ``poll_max_s``)."""
        round_ = await self.db.run(lambda conn: fire_due(conn, self.batch))
        await run_hooks(self.hooks, round_.changes)
        self.fired += len(round_.fired)
        if len(round_.fired) >= self.batch:
            return 0.0  # more may be due right now
        async with self.db.connection() as conn:
            due_in = await next_due_in(conn)
        if due_in is None:
            return self.poll_max_s
        return min(max(due_in, SCHEDULER_POLL_MIN_S), self.poll_max_s)
