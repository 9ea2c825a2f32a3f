"""Rescuer: runs whose worker died, or that outran their timeout, go back through RETRYING.

Liveness is the worker's heartbeat in the database (database clock), not a
wall-clock guess: a worker silent for ``heartbeat_timeout_s`` is presumed
lost and each of its RUNNING jobs is failed as ``WorkerLost`` — an attempt
that counts, so a job that kills every worker that runs it ends FAILED.

Silence only means something if the worker could have spoken: while
PostgreSQL is down or unreachable nobody can heartbeat, and the moment it is
back every heartbeat looks as old as the outage. So after a tick that could
not reach the database, heartbeats are not judged again until workers have
had a whole ``heartbeat_timeout_s`` to write one; otherwise a database
restart longer than the timeout would fail every running job as
``WorkerLost`` (spending an attempt each, FAILED for ``max_retries=0``)
though no worker died.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from engine.db.connection import DatabaseHandle
from engine.hooks import AfterCommit, run_hooks
from engine.maintenance.base import PeriodicService
from engine.store.workers import rescue

RESCUER_HEARTBEAT_TIMEOUT_S = 5.0  # seconds of heartbeat silence before a worker is lost
RESCUER_TIMEOUT_GRACE_S = 10.0  # seconds past a job's timeout before its run is failed


class Rescuer(PeriodicService):
    """Fails orphaned runs so that retry policy applies to them."""

    name = "rescuer"

    def __init__(
        self,
        db: DatabaseHandle,
        hooks: Sequence[AfterCommit],
        *,
        heartbeat_timeout_s: float = RESCUER_HEARTBEAT_TIMEOUT_S,
        timeout_grace_s: float = RESCUER_TIMEOUT_GRACE_S,
    ) -> None:
        super().__init__()
        self.db = db
        self.hooks = hooks
        self.heartbeat_timeout_s = heartbeat_timeout_s
        self.timeout_grace_s = timeout_grace_s
        self.rescued = 0
        self._judge_after = 0.0
        """Monotonic time from which heartbeats are judged again after the database was out
        of reach (see the module docstring)."""

    async def tick(self) -> float:
        if self.last_error is not None:  # the last tick failed: the database may have been away
            self._judge_after = time.monotonic() + self.heartbeat_timeout_s
        judge = time.monotonic() >= self._judge_after
        changes = await self.db.run(
            lambda conn: rescue(
                conn,
                heartbeat_timeout_s=self.heartbeat_timeout_s,
                timeout_grace_s=self.timeout_grace_s,
                judge_heartbeats=judge,
            )
        )
        self.rescued += len(changes.transitions)
        await run_hooks(self.hooks, changes)
        return min(1.0, self.heartbeat_timeout_s / 3)
