"""The job state machine: every legal transition, as data, in one pure module.

Nothing here touches a database. The store asks this module which source
states a transition may start from (:func:`sources`) and puts that list in the
``WHERE state = ANY(…)`` of its conditional updates, so the SQL and the table
below cannot disagree.

::

    PENDING ──deps done──▶ QUEUED ──claimed──▶ RUNNING ──ok──▶ COMPLETED
       │                     ▲                    │
       │                     └──── RETRYING ◀─────┤ error/timeout, attempts left
       │                                          └─ attempts exhausted ─▶ FAILED
       ├─ a dependency FAILED/CANCELLED ─▶ BLOCKED (back to PENDING when it is retried)
       └─ cancel (any non-terminal state) ─▶ CANCELLED
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

from engine.errors import IllegalTransition


class State(StrEnum):
    """Where a job is in its life. The value is the lowercase name stored and shown."""

    PENDING = "pending"
    """Waiting for dependencies. In: submission. Out: the last dependency completes
    (QUEUED), one fails or is cancelled (BLOCKED), cancel."""
    QUEUED = "queued"
    """Runnable and published to the broker. In: submission, release, retry
    scheduler, manual retry. Out: a worker's claim, cancel, TTL expiry."""
    RUNNING = "running"
    """Claimed by a worker; the attempt number fences every later write."""
    RETRYING = "retrying"
    """Failed with attempts left; waits for ``run_at`` (the database clock).
    Out: the retry scheduler (QUEUED), cancel."""
    COMPLETED = "completed"
    """Finished successfully. Terminal."""
    FAILED = "failed"
    """Attempts exhausted; dead-lettered. Terminal until retried by an operator."""
    BLOCKED = "blocked"
    """A dependency failed or was cancelled. Out: that dependency is retried
    (PENDING), cancel."""
    CANCELLED = "cancelled"
    """Cancelled by an operator or expired (TTL). Terminal until retried."""


TERMINAL: frozenset[State] = frozenset({State.COMPLETED, State.FAILED, State.CANCELLED})
"""States in which nothing will happen to a job unless an operator retries it."""

LIVE: frozenset[State] = frozenset(State) - TERMINAL
"""States that still hold an idempotency key and can be cancelled."""

BLOCKING: frozenset[State] = frozenset({State.FAILED, State.CANCELLED, State.BLOCKED})
"""A dependency in one of these states keeps its dependents BLOCKED."""

NEW = None
"""The source "state" of a submission."""

_TRANSITIONS: dict[tuple[State | None, State], str] = {
    (NEW, State.PENDING): "submitted with unfinished dependencies",
    (NEW, State.QUEUED): "submitted, nothing to wait for",
    (NEW, State.BLOCKED): "submitted depending on a failed or cancelled job",
    (State.PENDING, State.QUEUED): "last dependency completed",
    (State.PENDING, State.BLOCKED): "a dependency failed or was cancelled",
    (State.PENDING, State.CANCELLED): "cancelled",
    (State.QUEUED, State.RUNNING): "claimed by a worker",
    (State.QUEUED, State.CANCELLED): "cancelled, or expired before it started",
    (State.RUNNING, State.COMPLETED): "handler returned",
    (State.RUNNING, State.RETRYING): "error, timeout, lost worker or hand-back, attempts left",
    (State.RUNNING, State.FAILED): "attempts exhausted",
    (State.RUNNING, State.CANCELLED): "cancelled while running; the work is stopped",
    (State.RUNNING, State.QUEUED): "claimed but never started; released for another worker",
    (State.RETRYING, State.QUEUED): "backoff ended, or retried now by an operator",
    (State.RETRYING, State.CANCELLED): "cancelled",
    (State.FAILED, State.QUEUED): "retried by an operator with a fresh attempt budget",
    (State.CANCELLED, State.QUEUED): "retried by an operator",
    (State.CANCELLED, State.PENDING): "retried by an operator; dependencies unfinished",
    (State.CANCELLED, State.BLOCKED): "retried by an operator; a dependency failed",
    (State.BLOCKED, State.PENDING): "the failed dependency was retried",
    (State.BLOCKED, State.CANCELLED): "cancelled",
}

TRANSITIONS: Mapping[tuple[State | None, State], str] = MappingProxyType(_TRANSITIONS)
"""Every legal (from, to) pair and what causes it; ``None`` as source is a submission."""


def is_legal(from_state: State | None, to_state: State) -> bool:
    """Whether the state machine allows this change."""
    return (from_state, to_state) in _TRANSITIONS


def sources(to_state: State) -> list[str]:
    """The states a job may be in for ``to_state`` to be legal, as stored strings.

    Used verbatim as the ``state = ANY(:sources)`` guard of conditional updates.
    """
    return sorted(str(f) for (f, t) in _TRANSITIONS if t is to_state and f is not None)


def check(job_id: int, from_state: State, to_state: State, hint: str = "") -> None:
    """Raise :class:`~engine.errors.IllegalTransition` unless the change is legal."""
    if not is_legal(from_state, to_state):
        raise IllegalTransition(job_id, from_state.value, to_state.value, hint)
