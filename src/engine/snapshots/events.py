"""State changes as live views show them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.snapshots.common import iso
from engine.states import State


@dataclass(frozen=True, slots=True)
class EventView:
    """One state change as live views show it."""

    at: datetime
    job_id: int
    queue: str
    type: str
    from_state: State | None
    to_state: State
    attempt: int
    worker_id: str | None = None
    reason: str | None = None
    version: int | None = None
    wait_ms: float | None = None
    run_ms: float | None = None

    def to_json(self) -> dict[str, Any]:
        """One element of ``events`` in the dashboard JSON."""
        return {
            "at": iso(self.at),
            "job": self.job_id,
            "queue": self.queue,
            "type": self.type,
            "from": self.from_state.value if self.from_state else None,
            "to": self.to_state.value,
            "attempt": self.attempt,
            "worker": self.worker_id,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class EventsSection:
    """The newest state changes, newest first."""

    available: bool
    source: str
    events: tuple[EventView, ...] = ()
    error: str | None = None
