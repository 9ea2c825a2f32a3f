"""TTL expiry: cancels QUEUED jobs whose time to start ran out (reason ``expired``).

Runs in every engine; several at once share the work (``SKIP LOCKED``). Jobs
with a TTL submitted by another process are noticed within
:data:`EXPIRY_POLL_MAX_S`.
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.config import Settings
from engine.db.database import Database
from engine.hooks import AfterCommit, run_hooks
from engine.ops.expiry import EXPIRY_BATCH, expire_due, next_expiry_in
from engine.services.base import DueWorkService
from engine.states import State

EXPIRY_POLL_MAX_S = 1.0  # seconds; the longest wait between looks for expired jobs


class ExpiryService(DueWorkService):
    """Expires jobs in batches and runs the after-commit hooks (status cache, events)."""

    name = "expiry"

    def __init__(
        self,
        settings: Settings,
        db: Database,
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
