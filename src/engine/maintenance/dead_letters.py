"""Dead letters: keep the broker's dead-letter queue consistent with PostgreSQL.

PostgreSQL holds every failure. ``NS.dead`` holds a bounded copy of the recent
ones, for consumers outside the engine. A copy is *current* while its job is
FAILED at the copy's attempt and nobody purged it; a retry, a replay or a
prune ends the failure, and its copy becomes stale.

RabbitMQ cannot remove one message, so a **sweep** reads the whole queue
(:func:`engine.broker.dead_queue.browse`), acks the stale copies (and
duplicates and garbage) away and puts the rest back where they were, then
writes to ``dead_letters`` which failures have a copy there. Because the
decision is taken from PostgreSQL each time, it stays right however the
failure ended: a retry while RabbitMQ was down, a prune on another host, or
an engine that crashed half-way (its unacked copies simply return).

Sweeps hold a lease in ``dead_letter_sweeps`` (one row), so one reads at a
time, however many engines run, and each sees the whole queue. Each sweep
also declares the queue with the configured bounds; when they changed, it
moves the copies through a holding queue (:func:`engine.broker.dead_queue.rebound`).

:class:`DeadLetterService` runs in every engine: every :data:`CHECK_INTERVAL_S`
it asks PostgreSQL whether a sweep has work (a failure ended: the retry and
the prune that end one say so in ``dead_letter_sweeps``; failures since
the last sweep, at most every :data:`NEW_FAILURES_INTERVAL_S`; or none for
:data:`REFRESH_INTERVAL_S`, since the bounds drop copies without telling
anyone). Operators' commands (``dead list``, ``replay``, ``purge``) sweep
themselves, waiting for the lease if an engine holds it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from engine.broker.admin import admin_connection
from engine.broker.dead_queue import (
    BoundsMismatch,
    apply_bounds,
    browse,
    dead_letter_arguments,
    rebound,
)
from engine.broker.names import Names
from engine.config import Settings
from engine.db.connection import Connection, DatabaseHandle
from engine.errors import EngineError
from engine.hooks import AfterCommit
from engine.maintenance.base import PeriodicService
from engine.queries.dead_letters import (
    DEAD_LETTER_CURRENT,
    DEAD_LETTER_DUE,
    DEAD_LETTER_FORGET,
    DEAD_LETTER_LEASE_RELEASE,
    DEAD_LETTER_LEASE_TAKE,
    DEAD_LETTER_RECORD_SEEN,
    DEAD_LETTER_RECORD_UNSEEN,
)
from engine.snapshots import DeadSweep

log = logging.getLogger(__name__)

LEASE_S = 600.0  # seconds a sweep may hold the lease before another may take it over
LEASE_POLL_S = 0.2  # seconds between attempts of a command waiting for the lease
COMMAND_LEASE_WAIT_S = 60.0  # seconds an operator's command waits for a running sweep
CHECK_INTERVAL_S = 5.0  # seconds between the service's checks whether a sweep has work
NEW_FAILURES_INTERVAL_S = 120.0  # seconds at least between sweeps made for new failures
REFRESH_INTERVAL_S = 600.0  # seconds at most between sweeps (the bounds drop copies)


def _holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


async def _take_lease(db: DatabaseHandle, holder: str, wait_s: float) -> bool:
    """Take the sweep lease, waiting up to ``wait_s`` for its holder to finish."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s

    async def take(conn: Connection) -> Any:
        return (
            await conn.execute(DEAD_LETTER_LEASE_TAKE, {"holder": holder, "lease_s": LEASE_S})
        ).first()

    while True:
        if await db.run(take) is not None:
            return True
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(LEASE_POLL_S)


async def _release(
    db: DatabaseHandle, holder: str, *, complete: bool, kept: int, removed: int
) -> None:
    async def release(conn: Connection) -> None:
        await conn.execute(
            DEAD_LETTER_LEASE_RELEASE,
            {"holder": holder, "complete": complete, "kept": kept, "removed": removed},
        )

    try:
        await db.run(release)
    except EngineError as exc:  # the lease runs out by itself
        log.warning("could not release the dead-letter sweep lease: %s", exc)


@contextlib.asynccontextmanager
async def sweep_lease(db: DatabaseHandle, *, wait_s: float = 0.0) -> AsyncIterator[bool]:
    """Hold the sweep lease (yields False when another holder kept it for ``wait_s``),
    for anything that reads the whole dead-letter queue: while one reader holds copies
    unacknowledged, another would see a queue without them."""
    holder = _holder()
    taken = await _take_lease(db, holder, wait_s)
    try:
        yield taken
    finally:
        if taken:
            await _release(db, holder, complete=False, kept=0, removed=0)


async def sweep(settings: Settings, db: DatabaseHandle, *, wait_s: float = 0.0) -> DeadSweep:
    """Read the dead-letter queue once: remove stale copies, record the current ones.

    Returns ``DeadSweep(swept=False)`` when another sweep held the lease for all
    of ``wait_s``. Raises :class:`~engine.errors.ServiceUnavailable` when
    RabbitMQ or PostgreSQL does not answer (nothing is lost: unacked copies
    return to the queue, and the next sweep decides again).
    """
    holder = _holder()
    if not await _take_lease(db, holder, wait_s):
        return DeadSweep(swept=False)
    names = Names.of(settings)
    arguments = dead_letter_arguments(settings)
    complete = False
    kept: list[Any] = []
    removed: list[int] = []
    seen = 0
    moved = False
    try:
        async with admin_connection(settings, "dead-letters") as connection:
            try:
                await apply_bounds(connection, names, arguments)
            except BoundsMismatch:
                count = await rebound(connection, names, arguments)
                moved = True
                log.info(
                    "dead-letter queue %s given new bounds (%d messages, %s); %d copies kept",
                    names.dead_letter_queue,
                    settings.dead_letter_max_length,
                    settings.dead_letter_max_age,
                    count,
                )
            found = await browse(connection, names.dead_letter_queue)
            copies = found.copies if found is not None else []
            seen = len(copies)
            ours = [c for c in copies if c.job_id is not None and c.attempt is not None]
            current = await _current(db, ours) if ours else []
            keep_tags: set[int] = set()
            first_of: set[int] = set()
            for row in sorted(current, key=lambda r: int(r.tag)):
                if int(row.job_id) in first_of:
                    continue  # a second copy of the same failure (a publish repeated)
                first_of.add(int(row.job_id))
                keep_tags.add(int(row.tag))
                kept.append(row)
            removed = [c.delivery_tag for c in copies if c.delivery_tag not in keep_tags]
            if found is not None:
                await found.settle(removed)
        await _record(db, kept)
        complete = True
    finally:
        await _release(db, holder, complete=complete, kept=len(kept), removed=len(removed))
    if removed:
        log.info("dead-letter sweep removed %d stale copies, kept %d", len(removed), len(kept))
    return DeadSweep(swept=True, seen=seen, kept=len(kept), removed=len(removed), rebound=moved)


async def _current(db: DatabaseHandle, copies: Sequence[Any]) -> list[Any]:
    params = {
        "tags": [c.delivery_tag for c in copies],
        "ids": [c.job_id for c in copies],
        "attempts": [c.attempt for c in copies],
    }

    async def read(conn: Connection) -> list[Any]:
        return list((await conn.execute(DEAD_LETTER_CURRENT, params)).all())

    return await db.run_single(read)


async def _record(db: DatabaseHandle, kept: Sequence[Any]) -> None:
    """What a complete sweep found, in one transaction."""
    ids = [int(r.job_id) for r in kept]
    failed: list[datetime | None] = [r.finished_at for r in kept]
    attempts = [int(r.attempt) for r in kept]

    async def record(conn: Connection) -> None:
        if ids:
            await conn.execute(
                DEAD_LETTER_RECORD_SEEN, {"ids": ids, "failed": failed, "attempts": attempts}
            )
        await conn.execute(DEAD_LETTER_RECORD_UNSEEN, {"ids": ids})
        await conn.execute(DEAD_LETTER_FORGET)

    await db.run(record)


class DeadLetterService(PeriodicService):
    """Sweeps the dead-letter queue when PostgreSQL says a sweep has work.

    Args:
        settings: the namespace and the dead-letter bounds.
        db: the engine's database.
        hooks: unused: a sweep publishes nothing.
        check_interval_s: between checks whether a sweep has work.
    """

    name = "dead-letters"

    def __init__(
        self,
        settings: Settings,
        db: DatabaseHandle,
        hooks: Sequence[AfterCommit] = (),
        *,
        check_interval_s: float = CHECK_INTERVAL_S,
    ) -> None:
        super().__init__()
        if check_interval_s <= 0:
            raise ValueError("check_interval_s must be positive")
        self.settings = settings
        self.db = db
        self.check_interval_s = check_interval_s
        self.last_sweep: DeadSweep | None = None
        self._bounds_applied = False

    async def due(self) -> bool:
        """Whether a sweep has work now (the first tick always sweeps: it applies the bounds)."""
        if not self._bounds_applied:
            return True

        async def read(conn: Connection) -> Any:
            return (await conn.execute(DEAD_LETTER_DUE)).one()

        row = await self.db.run_single(read)
        if row.dirty:
            return True
        since = row.since_s
        if since is None or since >= REFRESH_INTERVAL_S:
            return True
        return bool(row.unseen) and since >= NEW_FAILURES_INTERVAL_S

    async def tick(self) -> float:
        """Sweep if there is work; another engine sweeping now counts as done."""
        if await self.due():
            self.last_sweep = await sweep(self.settings, self.db)
            self._bounds_applied = self._bounds_applied or self.last_sweep.swept
        return self.check_interval_s


async def check_broker(settings: Settings) -> None:
    """Raise ServiceUnavailable unless RabbitMQ answers (before an operator's purge)."""
    async with admin_connection(settings, "dead-letters"):
        pass
