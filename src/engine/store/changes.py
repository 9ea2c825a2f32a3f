"""What a committed write changed, for the work that must follow the commit."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.states import State


@dataclass(frozen=True, slots=True)
class Transition:
    """One job moved from one state to another (or a note, when the two are equal)."""

    job_id: int
    queue: str
    type: str
    from_state: State | None
    to_state: State
    attempt: int
    worker_id: str | None = None
    reason: str | None = None
    queued_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    version: int = 0
    """The job row's version after this change; a status cache keeps the highest it saw."""

    @classmethod
    def of_row(
        cls,
        row: Any,
        from_state: State | None,
        to_state: State,
        worker_id: str | None = None,
        reason: str | None = None,
        **times: datetime | None,
    ) -> Transition:
        """The transition of a job row a write returned (``id``, ``queue``, ``type``,
        ``attempts``, ``version`` as attributes); ``times`` are the optional timestamps."""
        return cls(
            row.id,
            row.queue,
            row.type,
            from_state,
            to_state,
            row.attempts,
            worker_id,
            reason,
            version=row.version,
            **times,
        )

    @property
    def is_note(self) -> bool:
        """True for an event that records something without changing the state."""
        return self.from_state == self.to_state


@dataclass(frozen=True, slots=True)
class Runnable:
    """A job that became QUEUED and must be published: the message is (id, attempt)."""

    job_id: int
    attempt: int
    queue: str
    priority: int


@dataclass(frozen=True, slots=True)
class Stop:
    """A RUNNING job that was cancelled: its worker must stop the work."""

    job_id: int
    attempt: int
    worker_id: str | None


@dataclass(slots=True)
class ChangeSet:
    """Everything a transaction changed; built up while it runs, used after commit."""

    transitions: list[Transition] = field(default_factory=list)
    runnables: list[Runnable] = field(default_factory=list)
    dead_letters: list[Transition] = field(default_factory=list)
    stops: list[Stop] = field(default_factory=list)

    def extend(self, other: ChangeSet) -> None:
        """Append another change set's contents to this one."""
        self.transitions.extend(other.transitions)
        self.runnables.extend(other.runnables)
        self.dead_letters.extend(other.dead_letters)
        self.stops.extend(other.stops)

    def __bool__(self) -> bool:
        return bool(self.transitions or self.runnables or self.dead_letters or self.stops)
