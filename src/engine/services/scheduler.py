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
from engine.services.base import DueWorkService

SCHEDULER_POLL_MAX_S = 1.0  # seconds; the longest wait between looks at the schedules


class ScheduleService(DueWorkService):
    """Fires due schedules and publishes their jobs after commit."""

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
        super().__init__(settings, db, hooks, batch=batch, poll_max_s=poll_max_s)
        self.fired = 0
        """Ticks fired by this service since it started (jobs submitted or refused)."""

    async def tick(self) -> float:
        """Fire what is due; wait until the next tick (at most ``poll_max_s``)."""
        round_ = await self.db.run(lambda conn: fire_due(conn, self.batch))
        await run_hooks(self.hooks, round_.changes)
        self.fired += len(round_.fired)
        return await self.wait_after(len(round_.fired), next_due_in)
