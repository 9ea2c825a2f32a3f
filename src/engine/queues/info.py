"""Queue settings as operators see them: paused, the waiting limit, how many wait.

The state lives in the ``queues`` table, so every worker on every host obeys
it and it survives restarts. Jobs per state come from the count tables, never
from counting ``jobs``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from engine.db.connection import Connection
from engine.errors import UserError
from engine.queries.counts import COUNT_WAITING
from engine.queries.queues import QUEUE_LIST
from engine.specs import _QUEUE_RE  # the same rule as submissions, so both agree
from engine.states import State

WAITING_STATES: frozenset[State] = frozenset(
    {State.PENDING, State.QUEUED, State.RETRYING, State.BLOCKED}
)
"""What a queue limit counts: every live job not running. A job occupies the queue from
submission until a worker starts it or it finishes; BLOCKED jobs count because they
stay until an operator retries or cancels what blocks them."""


class UnknownQueue(UserError):
    """A queue name no job or operator has used."""

    def __init__(self, queue: str) -> None:
        self.queue = queue
        super().__init__(f"queue {queue!r} does not exist (no job was ever submitted to it)")


@dataclass(frozen=True, slots=True)
class QueueInfo:
    """One queue's operator settings and how many jobs wait in it."""

    name: str
    paused: bool
    max_waiting: int | None
    """The most jobs that may wait (``WAITING_STATES``); None: no limit."""
    waiting: int = 0

    def to_json(self) -> dict[str, Any]:
        """The JSON form used by ``queueconsole queues --json`` and friends."""
        return {
            "name": self.name,
            "paused": self.paused,
            "max_waiting": self.max_waiting,
            "waiting": self.waiting,
        }


def check_queue_name(name: str) -> str:
    """The name, or a UserError saying why it cannot be a queue."""
    if not isinstance(name, str) or not _QUEUE_RE.match(name):
        raise UserError(
            f"queue {str(name)[:60]!r} is not a queue name (1 to 64 letters, digits and "
            "'_.-', not starting with '.' or '-')"
        )
    return name


async def waiting_counts(conn: Connection, queues: Sequence[str]) -> dict[str, int]:
    """Jobs waiting per queue (zero for a queue with none), from the count tables."""
    if not queues:
        return {}
    rows = await conn.execute(
        COUNT_WAITING,
        {"queues": list(queues), "states": sorted(s.value for s in WAITING_STATES)},
    )
    found = {r.queue: int(r.waiting) for r in rows}
    return {q: found.get(q, 0) for q in queues}


async def list_queues(conn: Connection) -> list[QueueInfo]:
    """Every known queue by name, with its settings and waiting count."""
    rows = (await conn.execute(QUEUE_LIST)).all()
    waiting = await waiting_counts(conn, [r.name for r in rows])
    return [QueueInfo(r.name, bool(r.paused), r.max_waiting, waiting[r.name]) for r in rows]
