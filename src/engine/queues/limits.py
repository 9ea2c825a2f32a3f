"""Queue limits: backpressure instead of unbounded growth.

A queue with ``max_waiting`` refuses a submission that would leave more than
that many jobs waiting in it (:data:`~engine.queues.info.WAITING_STATES`). The
check runs inside the submit transaction, before anything is written, so a
refused submission, a whole workflow included, leaves no trace. The queue's
row is locked for the rest of that transaction: two submissions to one limited
queue take turns, and the second counts the first one's jobs. Queues without a
limit take no lock and pay one indexed lookup.

Only new jobs count: a duplicate (an idempotency key held by a live job) adds
nothing. Other ways into a waiting state (a retry, a released dependent) are
not refused: they are jobs the queue already holds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from engine.db.connection import Connection
from engine.errors import UserError
from engine.queries.queues import QUEUE_LIMITS_LOCK, QUEUE_LOCK, QUEUE_SET_LIMIT
from engine.queues.info import QueueInfo, check_queue_name, waiting_counts

MAX_LIMIT = 2**31 - 1  # the column is an integer


class QueueFull(UserError):
    """A submission that would put more jobs in a queue than its limit allows."""

    def __init__(self, queue: str, limit: int, waiting: int, adding: int) -> None:
        self.queue = queue
        self.limit = limit
        self.waiting = waiting
        self.adding = adding
        super().__init__(
            f"queue {queue!r} is full: {waiting:,} jobs waiting, limit {limit:,}; "
            f"this submission of {adding:,} job{'s' if adding != 1 else ''} was refused "
            "and nothing was written"
        )


async def check_queue_limits(conn: Connection, new_job_queues: Iterable[str]) -> None:
    """Raise :class:`QueueFull` if the new jobs (one queue name each) overflow a limit.

    Must run in the submitting transaction, before the jobs are inserted.
    """
    adding = Counter(new_job_queues)
    if not adding:
        return
    limits = {
        r.name: int(r.max_waiting)
        for r in await conn.execute(QUEUE_LIMITS_LOCK, {"names": sorted(adding)})
    }
    if not limits:
        return
    waiting = await waiting_counts(conn, sorted(limits))
    for queue in sorted(limits):
        if waiting[queue] + adding[queue] > limits[queue]:
            raise QueueFull(queue, limits[queue], waiting[queue], adding[queue])


def parse_limit(
    value: str | int | None,
    what: str = "queue limit",
    hint: str | None = "`queueconsole pause` stops starts without refusing jobs",
) -> int | None:
    """``none`` (or None) clears the limit; otherwise a whole number of at least 1.

    ``what`` names the limit in errors (tenants' limits use it too); ``hint`` is added
    to the error for a number below 1.
    """
    if value is None:
        return None
    if isinstance(value, str):
        cleaned = value.strip().replace("_", "").replace(",", "")
        if cleaned.lower() in ("none", "off", "unlimited"):
            return None
        try:
            value = int(cleaned)
        except ValueError:
            raise UserError(
                f"{what} {value!r} is not a number; give a whole number of jobs or 'none'"
            ) from None
    if isinstance(value, bool) or not isinstance(value, int):
        raise UserError(f"{what} {value!r} is not a whole number of jobs")
    if value < 1:
        extra = f"; {hint}" if hint else ""
        raise UserError(f"{what} {value} must be at least 1 ('none' removes the limit{extra})")
    if value > MAX_LIMIT:
        raise UserError(f"{what} {value:,} is larger than {MAX_LIMIT:,}")
    return value


async def set_queue_limit(conn: Connection, queue: str, limit: int | str | None) -> QueueInfo:
    """Set (or clear, with None) the most jobs that may wait in ``queue``.

    Lowering a limit below what already waits refuses new submissions until the
    queue drains below it; nothing already queued is removed.
    """
    check_queue_name(queue)
    max_waiting = parse_limit(limit)
    await conn.execute(QUEUE_LOCK, {"name": queue})
    row = (await conn.execute(QUEUE_SET_LIMIT, {"name": queue, "max_waiting": max_waiting})).one()
    waiting = await waiting_counts(conn, [queue])
    return QueueInfo(row.name, bool(row.paused), row.max_waiting, waiting[queue])
