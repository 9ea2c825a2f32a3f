"""Cron schedules: a job submitted at every tick of a cron expression, in a time zone.

Firing is owned by the database clock. Each schedule row holds the tick it
waits for (``next_fire_at``); a scheduler locks due rows ``FOR UPDATE SKIP
LOCKED`` and, in one transaction, claims the tick in ``schedule_fires`` (primary
key (schedule, tick)), submits the job through the ordinary submission path
and moves ``next_fire_at`` past ``now()``. With several engines running, a
tick fires exactly once: the row lock keeps two schedulers apart, and the
unique fire row would refuse a second fire of the same tick even if they met.

Missed ticks: if no engine ran when ticks came due (every engine down, or the
scheduler stalled), the first scheduler to run fires the schedule **once**, for
the most recent missed tick, records how many earlier ticks that fire stands
for (``missed``, counted up to :data:`MISSED_COUNT_CAP`), and waits for the
first tick after ``now()``. A schedule never fires in a burst to catch up.
Ticks that pass while a schedule is paused are skipped: resuming waits for
the next tick after the resume.

Time zones are IANA names (``UTC`` by default). Cron times are wall-clock
times in that zone, as croniter computes them: a time that does not exist on
the day clocks go forward fires at the first valid minute after, and a time
in the hour that repeats when clocks go back fires in both occurrences. Use
UTC where that matters.

:class:`ScheduleService` runs in every engine; several at once are safe (each
tick fires exactly once). Schedules added by another process (the command
line, another engine) are noticed within :data:`SCHEDULER_POLL_MAX_S`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from engine.config import Settings
from engine.db.connection import Connection, DatabaseHandle
from engine.errors import UserError, ValidationError
from engine.hooks import AfterCommit, run_hooks
from engine.maintenance.base import DueWorkService
from engine.priority import Priority
from engine.queries.jobs import DB_NOW
from engine.queries.schedules import (
    SCHEDULE_ADVANCE,
    SCHEDULE_DELETE,
    SCHEDULE_DUE,
    SCHEDULE_FIRE_INSERT,
    SCHEDULE_FIRE_SET_OUTCOME,
    SCHEDULE_INSERT,
    SCHEDULE_LIST,
    SCHEDULE_LOCK,
    SCHEDULE_MISSED_TOTALS,
    SCHEDULE_NEXT_DUE_IN,
    SCHEDULE_SET_LAST,
    SCHEDULE_SET_PAUSED,
)
from engine.routes import NO_ROUTES, Routes
from engine.specs import JobSpec, PreparedJob, prepare
from engine.store.changes import ChangeSet, Transition
from engine.store.recorder import record
from engine.store.submission import insert_jobs

if TYPE_CHECKING:
    from sqlalchemy.engine import Row
    from sqlalchemy.ext.asyncio import AsyncConnection

log = logging.getLogger(__name__)

DEFAULT_TZ = "UTC"
MISSED_COUNT_CAP = 1000  # missed ticks counted at most (a stopped minutely schedule: days)
FIRE_BATCH = 100  # schedules fired per transaction
SCHEDULER_POLL_MAX_S = 1.0  # seconds; the longest wait between looks at the schedules
MAX_NAME_LENGTH = 100

_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:@-]{0,99}\Z")  # \Z: no trailing newline
_ALIASES = frozenset(
    {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
)


class UnknownSchedule(UserError):
    """A schedule name that names no schedule."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"schedule {name!r} does not exist (see `queueconsole schedule list`)")


@dataclass(frozen=True, slots=True)
class ScheduleInfo:
    """One schedule as stored: what it submits, when, and what it last did."""

    id: int
    name: str
    cron: str
    tz: str
    type: str
    payload: Mapping[str, Any]
    queue: str
    priority: Priority
    max_retries: int
    timeout_s: float | None
    ttl_s: float | None
    paused: bool
    next_fire_at: datetime
    """The tick it waits for (UTC); meaningless while paused."""
    last_tick: datetime | None
    last_job_id: int | None
    created_at: datetime

    @staticmethod
    def from_row(row: Row[Any]) -> ScheduleInfo:
        """Build from a row of ``SCHEDULE_COLUMNS``."""
        return ScheduleInfo(
            id=row.id,
            name=row.name,
            cron=row.cron,
            tz=row.tz,
            type=row.type,
            payload=dict(row.payload),
            queue=row.queue,
            priority=Priority(row.priority),
            max_retries=row.max_retries,
            timeout_s=row.timeout_s,
            ttl_s=row.ttl_s,
            paused=bool(row.paused),
            next_fire_at=row.next_fire_at,
            last_tick=row.last_tick,
            last_job_id=row.last_job_id,
            created_at=row.created_at,
        )

    def to_json(self) -> dict[str, Any]:
        """The JSON form of ``queueconsole schedule list --json``."""
        return {
            "name": self.name,
            "cron": self.cron,
            "tz": self.tz,
            "type": self.type,
            "payload": dict(self.payload),
            "queue": self.queue,
            "priority": self.priority.label,
            "paused": self.paused,
            "next_fire_at": None if self.paused else self.next_fire_at.isoformat(),
            "last_tick": self.last_tick.isoformat() if self.last_tick else None,
            "last_job_id": self.last_job_id,
        }


@dataclass(frozen=True, slots=True)
class Fired:
    """One tick a scheduler fired: the job it submitted, or why it submitted none."""

    schedule: str
    tick: datetime
    missed: int
    """Earlier ticks this one fire stands for (missed while no engine ran)."""
    job_id: int | None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class FireRound:
    """What one scheduler round did; ``changes`` go to the after-commit hooks."""

    fired: tuple[Fired, ...]
    changes: ChangeSet


# ---------------------------------------------------------------------------
# Validation and cron arithmetic (pure)
# ---------------------------------------------------------------------------


def check_name(name: str) -> str:
    """The schedule name, or a UserError saying what a name may hold."""
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise UserError(
            f"schedule name {str(name)[:60]!r} is not usable: 1 to {MAX_NAME_LENGTH} letters, "
            "digits and '_.:@-', not starting with a punctuation mark"
        )
    return name


def _require_usable(name: str) -> None:
    """UnknownSchedule for a name no schedule can have, before it reaches the driver (which
    fails on a NUL or a lone surrogate, e.g. from undecodable command line bytes)."""
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise UnknownSchedule(name)


def check_cron(expression: str) -> str:
    """The expression, normalised (single spaces), or a UserError saying what is wrong.

    Five fields (minute hour day-of-month month day-of-week) or one of
    ``@hourly @daily @midnight @weekly @monthly @yearly @annually``.
    """
    if not isinstance(expression, str):
        raise UserError("cron expression must be text such as '*/5 * * * *'")
    cleaned = " ".join(expression.split())
    if cleaned.lower() in _ALIASES:
        return cleaned.lower()
    fields = cleaned.split(" ") if cleaned else []
    if len(fields) != 5:
        raise UserError(
            f"cron expression {expression!r} has {len(fields)} field"
            f"{'s' if len(fields) != 1 else ''}; it needs 5 (minute hour day month weekday), "
            "e.g. '*/5 * * * *', or @hourly/@daily/@weekly/@monthly/@yearly"
        )
    if not croniter.is_valid(cleaned):
        raise UserError(
            f"cron expression {expression!r} is not valid: each of the 5 fields (minute 0-59, "
            "hour 0-23, day 1-31, month 1-12, weekday 0-6) takes *, numbers, ranges a-b, "
            "lists a,b and steps */n"
        )
    return cleaned


def check_tz(name: str) -> ZoneInfo:
    """The time zone of an IANA name, or a UserError naming it."""
    try:
        if not isinstance(name, str) or not name or name.startswith(("/", ".")):
            raise ValueError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise UserError(
            f"unknown time zone {name!r}; use an IANA name such as UTC, Europe/Paris or "
            "America/New_York"
        ) from None


def next_tick(cron: str, tz: str, after: datetime) -> datetime:
    """The first tick strictly after ``after``, in UTC."""
    start = after.astimezone(check_tz(tz))
    return croniter(cron, start).get_next(datetime).astimezone(UTC)


def catch_up(cron: str, tz: str, due: datetime, now: datetime) -> tuple[datetime, int, datetime]:
    """For a schedule due at tick ``due`` (≤ ``now``): the tick to fire (the latest one not
    after ``now``), how many earlier ticks it stands for, and the next tick after ``now``.

    Missed ticks are counted one by one up to :data:`MISSED_COUNT_CAP`; past the cap
    the count stops there and the latest tick is found from the far end.
    """
    zone = check_tz(tz)
    following = croniter(cron, now.astimezone(zone)).get_next(datetime).astimezone(UTC)
    it = croniter(cron, due.astimezone(zone))
    tick = due
    missed = 0
    while True:
        candidate = it.get_next(datetime).astimezone(UTC)
        if candidate > now:
            break
        if missed >= MISSED_COUNT_CAP:
            latest = croniter(cron, following.astimezone(zone)).get_prev(datetime)
            tick = max(tick, latest.astimezone(UTC))
            break
        tick = candidate
        missed += 1
    return tick, missed, following


def _prepare_job(
    name: str,
    job_type: str,
    payload: Mapping[str, Any] | None,
    queue: str | None,
    priority: Priority | str | int | None,
    max_retries: int,
    timeout_s: float | None,
    ttl_s: float | None,
    routes: Routes = NO_ROUTES,
) -> PreparedJob:
    """Validate the job a schedule submits, with the same rules (and errors) as a submit."""
    spec = JobSpec(
        type=job_type,
        payload={} if payload is None else payload,
        queue=queue,
        priority=priority,
        max_retries=max_retries,
        timeout_s=timeout_s,
        ttl_s=ttl_s,
    )
    try:
        return prepare([spec], workflow=False, routes=routes)[0]
    except ValidationError as exc:
        message = str(exc).removeprefix("job: ")
        raise ValidationError(f"schedule {name!r}: {message}") from None


# ---------------------------------------------------------------------------
# Operator actions (run inside the caller's transaction)
# ---------------------------------------------------------------------------


async def add_schedule(
    conn: AsyncConnection,
    name: str,
    cron: str,
    job_type: str,
    payload: Mapping[str, Any] | None = None,
    *,
    queue: str | None = None,
    priority: Priority | str | int | None = None,
    tz: str = DEFAULT_TZ,
    max_retries: int = 3,
    timeout_s: float | None = None,
    ttl_s: float | None = None,
    routes: Routes = NO_ROUTES,
) -> ScheduleInfo:
    """Create a schedule; its first fire is the first tick after now (database clock).

    Everything is validated before anything is written; a taken name is refused.
    A queue or priority left as None is resolved by ``routes`` here, once, and
    stored: every engine may fire the schedule, each with its own config file, so
    resolving at fire time would let the tick's destination depend on which engine
    won it. Stored, it is the same everywhere and ``schedule list`` shows it.
    """
    check_name(name)
    cron = check_cron(cron)
    check_tz(tz)
    job = _prepare_job(
        name, job_type, payload, queue, priority, max_retries, timeout_s, ttl_s, routes
    )
    now = await conn.scalar(DB_NOW)
    row = (
        await conn.execute(
            SCHEDULE_INSERT,
            {
                "name": name,
                "cron": cron,
                "tz": tz,
                "type": job.type,
                "payload": job.payload_json,
                "queue": job.queue,
                "priority": int(job.priority),
                "max_retries": job.max_retries,
                "timeout_s": job.timeout_s,
                "ttl_s": job.ttl_s,
                "next_fire_at": next_tick(cron, tz, now),
            },
        )
    ).one_or_none()
    if row is None:
        raise UserError(f"schedule {name!r} already exists; remove it first or choose another name")
    return ScheduleInfo.from_row(row)


async def list_schedules(conn: AsyncConnection) -> list[ScheduleInfo]:
    """Every schedule, by name."""
    return [ScheduleInfo.from_row(r) for r in await conn.execute(SCHEDULE_LIST)]


async def remove_schedule(conn: AsyncConnection, name: str) -> None:
    """Delete a schedule and its fire history; jobs it submitted stay."""
    _require_usable(name)
    if (await conn.execute(SCHEDULE_DELETE, {"name": name})).first() is None:
        raise UnknownSchedule(name)


async def set_schedule_paused(conn: AsyncConnection, name: str, paused: bool) -> ScheduleInfo:
    """Pause a schedule, or resume it from the first tick after now (ticks that passed
    while it was paused are skipped, not caught up)."""
    _require_usable(name)
    row = (await conn.execute(SCHEDULE_LOCK, {"name": name})).one_or_none()
    if row is None:
        raise UnknownSchedule(name)
    current = ScheduleInfo.from_row(row)
    if current.paused == paused:
        return current
    next_fire_at = current.next_fire_at
    if not paused:
        next_fire_at = next_tick(current.cron, current.tz, await conn.scalar(DB_NOW))
    updated = (
        await conn.execute(
            SCHEDULE_SET_PAUSED, {"id": current.id, "paused": paused, "next_fire_at": next_fire_at}
        )
    ).one()
    return ScheduleInfo.from_row(updated)


# ---------------------------------------------------------------------------
# Firing (the scheduler service)
# ---------------------------------------------------------------------------


async def fire_due(conn: Connection, limit: int = FIRE_BATCH) -> FireRound:
    """Fire every due schedule (up to ``limit``) once, in the caller's transaction.

    A schedule whose job is refused (its queue is full, or the stored job no
    longer validates) records the fire with a note and moves on to its next
    tick: a schedule never retries a tick.
    """
    rows = (await conn.execute(SCHEDULE_DUE, {"limit": limit})).all()
    fired: list[Fired] = []
    changes = ChangeSet()
    for row in rows:
        schedule = ScheduleInfo.from_row(row)
        tick, missed, following = catch_up(
            schedule.cron, schedule.tz, schedule.next_fire_at, row.db_now
        )
        claimed = await conn.scalar(
            SCHEDULE_FIRE_INSERT, {"schedule_id": schedule.id, "tick": tick, "missed": missed}
        )
        job_id: int | None = None
        note: str | None = None
        if claimed is None:
            note = "tick already fired"  # the unique (schedule, tick) row: never twice
        else:
            job_id, note = await _submit_for(conn, schedule, tick, missed, changes)
            await conn.execute(
                SCHEDULE_FIRE_SET_OUTCOME,
                {"schedule_id": schedule.id, "tick": tick, "job_id": job_id, "note": note},
            )
            fired.append(Fired(schedule.name, tick, missed, job_id, note))
        await conn.execute(
            SCHEDULE_ADVANCE,
            {"id": schedule.id, "next_fire_at": following, "tick": tick, "job_id": job_id},
        )
    return FireRound(tuple(fired), changes)


async def _submit_for(
    conn: Connection,
    schedule: ScheduleInfo,
    tick: datetime,
    missed: int,
    changes: ChangeSet,
    *,
    by: str = "fired",
) -> tuple[int | None, str | None]:
    """Submit the schedule's job in a savepoint; a refusal is returned as a note."""
    try:
        job = _prepare_job(
            schedule.name,
            schedule.type,
            schedule.payload,
            schedule.queue,
            schedule.priority,
            schedule.max_retries,
            schedule.timeout_s,
            schedule.ttl_s,
        )
        async with conn.begin_nested():
            submission = await insert_jobs(conn, [job])
    except UserError as exc:
        log.warning("schedule %r, tick %s: no job submitted: %s", schedule.name, tick, exc)
        return None, str(exc)
    submitted = submission.jobs[0]
    changes.extend(submission.changes)
    reason = f"{by} by schedule {schedule.name!r} for tick {tick.isoformat()}"
    if missed:
        reason += f" ({missed}{'+' if missed >= MISSED_COUNT_CAP else ''} missed ticks skipped)"
    note = Transition(
        submitted.id,
        job.queue,
        job.type,
        submitted.state,
        submitted.state,
        0,
        None,
        reason,
    )
    await record(conn, [note])  # audit only: a note changes no state, cache or count
    return submitted.id, None


async def fire_now(conn: Connection, name: str) -> FireRound:
    """Fire a schedule once, now, out of turn ("fire now" in the console, ``schedule fire``).

    The fire is recorded with the database's now as its tick, like any other, and the
    schedule keeps waiting for its next cron tick: firing now neither skips nor moves it.
    A paused schedule can be fired (an operator testing it before resuming). A refused
    job (full queue, stale type) is a UserError here, not a note: someone is waiting
    for the answer.
    """
    _require_usable(name)
    row = (await conn.execute(SCHEDULE_LOCK, {"name": name})).one_or_none()
    if row is None:
        raise UnknownSchedule(name)
    schedule = ScheduleInfo.from_row(row)
    tick = await conn.scalar(DB_NOW)
    await conn.execute(
        SCHEDULE_FIRE_INSERT, {"schedule_id": schedule.id, "tick": tick, "missed": 0}
    )
    changes = ChangeSet()
    job_id, note = await _submit_for(conn, schedule, tick, 0, changes, by="fired now")
    if job_id is None:
        raise UserError(f"schedule {name!r} fired no job: {note}")
    await conn.execute(
        SCHEDULE_FIRE_SET_OUTCOME,
        {"schedule_id": schedule.id, "tick": tick, "job_id": job_id, "note": "fired now"},
    )
    await conn.execute(SCHEDULE_SET_LAST, {"id": schedule.id, "tick": tick, "job_id": job_id})
    return FireRound((Fired(schedule.name, tick, 0, job_id, "fired now"),), changes)


async def missed_totals(conn: AsyncConnection) -> dict[str, int]:
    """Ticks missed per schedule name over the kept fire history (only those that missed)."""
    return {r.name: int(r.missed) for r in await conn.execute(SCHEDULE_MISSED_TOTALS)}


async def next_due_in(conn: Connection) -> float | None:
    """Seconds until the next unpaused schedule is due (negative: overdue); None if none."""
    value = await conn.scalar(SCHEDULE_NEXT_DUE_IN)
    return None if value is None else float(value)


class ScheduleService(DueWorkService):
    """Fires due schedules and publishes their jobs after commit."""

    name = "scheduler"

    def __init__(
        self,
        settings: Settings,
        db: DatabaseHandle,
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
