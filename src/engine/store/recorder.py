"""Writes the audit trail and count deltas for a batch of transitions.

Called inside the transaction that made the transitions, so the events and
counts commit (or roll back) together with the state changes they describe.
The job path's hottest writes (claims, completions) do the same inside their
one statement instead (:data:`engine.queries.jobs.JOB_CLAIM_MANY`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from engine.db.connection import Connection
from engine.queries.counts import COUNT_DELTA_INSERT_MANY
from engine.queries.events import EVENT_INSERT_MANY
from engine.store.changes import Transition


async def record(conn: Connection, transitions: Sequence[Transition]) -> None:
    """Insert one event per transition and the net count change per (queue, state)."""
    if not transitions:
        return
    await conn.execute(
        EVENT_INSERT_MANY,
        {
            "job_ids": [t.job_id for t in transitions],
            "from_states": [t.from_state.value if t.from_state else None for t in transitions],
            "to_states": [t.to_state.value for t in transitions],
            "attempts": [t.attempt for t in transitions],
            "worker_ids": [t.worker_id for t in transitions],
            "reasons": [t.reason for t in transitions],
        },
    )
    deltas: Counter[tuple[str, str]] = Counter()
    for t in transitions:
        if t.is_note:
            continue
        if t.from_state is not None:
            deltas[(t.queue, t.from_state.value)] -= 1
        deltas[(t.queue, t.to_state.value)] += 1
    rows = sorted((k, v) for k, v in deltas.items() if v)
    if rows:
        await conn.execute(
            COUNT_DELTA_INSERT_MANY,
            {
                "queues": [q for (q, _), _ in rows],
                "states": [s for (_, s), _ in rows],
                "deltas": [d for _, d in rows],
            },
        )
