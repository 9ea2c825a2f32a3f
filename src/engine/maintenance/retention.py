"""Retention: finished jobs older than an age are removed with everything that hangs off them.

What goes: jobs COMPLETED, FAILED or CANCELLED whose ``finished_at`` is older
than the age (database clock), with their ``job_dependencies`` rows (both
directions), ``job_events`` and ``job_logs``, and workflows left empty; the
per-(queue, state) counts are decremented in the same statement, and schedule
fire history older than the age goes too.

What stays, however old: every job of a workflow that still has a live job
(the DAG view needs the whole graph until the workflow is done), and a
finished job that a live job depends on (a BLOCKED dependent is released by
retrying that very job). Such jobs are reported as ``kept`` and go in a later
run once their workflow or dependents are finished.

How: bounded batches (``batch_size`` jobs, 1,000 by default), each its own
short transaction: read the next candidates by (``finished_at``, id) on a
partial index, lock the removable ones ``FOR UPDATE SKIP LOCKED`` (a job an
operator is retrying right now is left for the next run), delete. No lock
outlives a batch, so claims and submissions never wait long. A dry run walks
the same batches without locking or deleting and counts what would go.

:class:`RetentionService` runs :func:`prune` in the background when
``retention_age`` is set (e.g. ``7d``); otherwise it only rests. Each tick removes
at most :data:`RETENTION_BATCHES_PER_TICK` batches, so an engine with a large
backlog of old jobs works through it in steps (ticking again at once) instead of
one long run; then it rests :data:`RETENTION_INTERVAL_S`. Several engines may run
it: batches lock their rows ``SKIP LOCKED`` and never remove a job twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from engine.config import Settings
from engine.db.database import Database
from engine.durations import format_duration, parse_duration
from engine.errors import UserError
from engine.hooks import AfterCommit
from engine.maintenance.base import PeriodicService
from engine.queries.dead_letters import DEAD_LETTER_MARK_DIRTY
from engine.queries.jobs import (
    JOB_PRUNE_CANDIDATES,
    JOB_PRUNE_CUTOFF,
    JOB_PRUNE_MANY,
    JOB_PRUNE_PREVIEW,
    JOB_PRUNE_PREVIEW_CHILDREN,
    JOB_PRUNE_VICTIMS,
)
from engine.queries.schedules import SCHEDULE_FIRE_COUNT_OLD, SCHEDULE_FIRE_PRUNE
from engine.queries.workflows import WORKFLOW_DELETE_EMPTY
from engine.states import TERMINAL, State

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

log = logging.getLogger(__name__)

DEFAULT_BATCH = 1000  # jobs per transaction
MAX_BATCH = 50_000  # a batch larger than this holds its locks too long
RETENTION_INTERVAL_S = 300.0  # seconds between runs once nothing old is left
RETENTION_BATCHES_PER_TICK = 100  # batches per tick before yielding to the next tick

_START = datetime(1, 1, 1, tzinfo=UTC)  # keyset origin: before any finished_at


@dataclass(frozen=True, slots=True)
class PruneResult:
    """What a prune removed (or, in a dry run, would remove)."""

    older_than: timedelta
    cutoff: datetime
    """Jobs finished before this instant (database clock) were eligible."""
    dry_run: bool
    jobs: dict[State, int] = field(default_factory=dict)
    """Removed jobs per finished state (all three present)."""
    dependencies: int = 0
    events: int = 0
    logs: int = 0
    schedule_fires: int = 0
    kept: int = 0
    """Old enough but kept: their workflow or a dependent is live (or locked right then)."""
    batches: int = 0
    seconds: float = 0.0
    longest_batch_s: float = 0.0
    """The longest batch: how long a transaction of this run held its locks at most."""
    more: bool = False
    """True when a ``max_batches`` bound stopped the run before it was done."""

    @property
    def total_jobs(self) -> int:
        """Jobs removed, all states."""
        return sum(self.jobs.values())

    def to_json(self) -> dict[str, Any]:
        """The JSON form of ``queueconsole prune --json``."""
        return {
            "dry_run": self.dry_run,
            "older_than": format_duration(self.older_than),
            "cutoff": self.cutoff.isoformat(),
            "jobs": self.total_jobs,
            "by_state": {s.value: n for s, n in self.jobs.items()},
            "dependencies": self.dependencies,
            "events": self.events,
            "logs": self.logs,
            "schedule_fires": self.schedule_fires,
            "kept": self.kept,
            "batches": self.batches,
            "seconds": round(self.seconds, 3),
            "longest_batch_s": round(self.longest_batch_s, 3),
        }


def check_batch_size(batch_size: int) -> int:
    """The batch size, or a UserError when it is not 1..MAX_BATCH."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int):
        raise UserError(f"batch size {batch_size!r} is not a whole number")
    if not 1 <= batch_size <= MAX_BATCH:
        raise UserError(f"batch size {batch_size:,} must be between 1 and {MAX_BATCH:,}")
    return batch_size


async def prune(
    db: Database,
    older_than: timedelta | str,
    *,
    dry_run: bool = False,
    batch_size: int = DEFAULT_BATCH,
    max_batches: int | None = None,
) -> PruneResult:
    """Remove (or count, with ``dry_run``) finished jobs older than ``older_than``.

    ``older_than`` is a :class:`timedelta` or text such as ``7d``. ``max_batches``
    bounds one call (the retention service uses it); ``more`` then says whether
    anything was left.
    """
    age = parse_duration(older_than, "age") if isinstance(older_than, str) else older_than
    if not isinstance(age, timedelta) or age <= timedelta(0):
        raise UserError(f"age {older_than!r} must be a positive duration such as 7d")
    check_batch_size(batch_size)
    started = time.perf_counter()
    async with db.connection() as conn:
        cutoff: datetime = await conn.scalar(JOB_PRUNE_CUTOFF, {"age_s": age.total_seconds()})

    jobs: Counter[State] = Counter()
    totals: Counter[str] = Counter()
    after: tuple[datetime, int] = (_START, 0)
    batches = 0
    longest = 0.0
    more = False
    while True:
        if max_batches is not None and batches >= max_batches:
            more = True
            break

        async def one_batch(conn: AsyncConnection, after: tuple[datetime, int] = after) -> Any:
            return await _batch(conn, cutoff, after, batch_size, dry_run)

        batch_started = time.perf_counter()
        if dry_run:
            async with db.connection() as conn:
                outcome = await one_batch(conn)
        else:
            outcome = await db.run(one_batch)
        longest = max(longest, time.perf_counter() - batch_started)
        if outcome is None:
            break
        batches += 1
        last, removed, counts, candidates = outcome
        after = last
        jobs.update(removed)
        totals.update(counts)
        totals["kept"] += candidates - sum(removed.values())
        if candidates < batch_size:
            break
        await asyncio.sleep(0)  # let the engine's other tasks run between batches

    totals["schedule_fires"] = await _prune_fires(db, cutoff, batch_size, dry_run)
    return PruneResult(
        older_than=age,
        cutoff=cutoff,
        dry_run=dry_run,
        jobs={s: jobs.get(s, 0) for s in State if s in TERMINAL},
        dependencies=totals["dependencies"],
        events=totals["events"],
        logs=totals["logs"],
        schedule_fires=totals["schedule_fires"],
        kept=totals["kept"],
        batches=batches,
        seconds=time.perf_counter() - started,
        longest_batch_s=longest,
        more=more,
    )


async def _batch(
    conn: AsyncConnection,
    cutoff: datetime,
    after: tuple[datetime, int],
    batch_size: int,
    dry_run: bool,
) -> tuple[tuple[datetime, int], Counter[State], Counter[str], int] | None:
    """One batch: (keyset position after it, removed per state, child rows, candidates)."""
    candidates = (
        await conn.execute(
            JOB_PRUNE_CANDIDATES,
            {"cutoff": cutoff, "after_at": after[0], "after_id": after[1], "limit": batch_size},
        )
    ).all()
    if not candidates:
        return None
    ids = [r.id for r in candidates]
    query = JOB_PRUNE_PREVIEW if dry_run else JOB_PRUNE_VICTIMS
    victims = (await conn.execute(query, {"ids": ids, "cutoff": cutoff})).all()
    removed: Counter[State] = Counter(State(v.state) for v in victims)
    counts: Counter[str] = Counter()
    if victims:
        victim_ids = [v.id for v in victims]
        if dry_run:
            row = (
                await conn.execute(
                    JOB_PRUNE_PREVIEW_CHILDREN, {"ids": victim_ids, "cutoff": cutoff}
                )
            ).one()
        else:
            row = (await conn.execute(JOB_PRUNE_MANY, {"ids": victim_ids})).one()
            if removed[State.FAILED]:  # their dead-letter copies are stale now
                await conn.execute(DEAD_LETTER_MARK_DIRTY)
            workflows = sorted({v.workflow_id for v in victims if v.workflow_id is not None})
            if workflows:
                await conn.execute(WORKFLOW_DELETE_EMPTY, {"ids": workflows})
        counts.update({"dependencies": row.dependencies, "events": row.events, "logs": row.logs})
    last = candidates[-1]
    return (last.finished_at, last.id), removed, counts, len(candidates)


async def _prune_fires(db: Database, cutoff: datetime, batch_size: int, dry_run: bool) -> int:
    """Remove (or count) schedule fire history older than the cutoff, in batches."""
    if dry_run:
        async with db.connection() as conn:
            return int(await conn.scalar(SCHEDULE_FIRE_COUNT_OLD, {"cutoff": cutoff}) or 0)
    total = 0
    while True:

        async def one(conn: AsyncConnection) -> int:
            result = await conn.execute(
                SCHEDULE_FIRE_PRUNE, {"cutoff": cutoff, "limit": batch_size}
            )
            return int(result.rowcount or 0)

        n = await db.run(one)
        total += n
        if n < batch_size:
            return total


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
