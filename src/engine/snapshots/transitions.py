"""One row of the audit trail as the live event stream sends it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.snapshots.common import iso
from engine.states import State


@dataclass(frozen=True, slots=True)
class TransitionEvent:
    """A job's state change, numbered by its ``job_events`` id.

    The id is the stream's cursor: events are handed out in id order and an id is
    never handed out twice, so "everything after N" is a complete answer.
    ``queue``, ``type`` and ``workflow_id`` come from the job's row and are None once
    retention has removed the job.
    """

    id: int
    job_id: int
    from_state: State | None
    to_state: State
    at: datetime
    reason: str | None
    queue: str | None
    type: str | None
    workflow_id: int | None
    attempt: int
    worker_id: str | None
    tenant: str | None = None
    """The job's tenant (None once retention removed the job)."""

    def to_json(self) -> dict[str, Any]:
        """The stream's JSON object (a contract: fields are added, never renamed)."""
        return {
            "id": self.id,
            "job_id": self.job_id,
            "from": self.from_state.value if self.from_state else None,
            "to": self.to_state.value,
            "at": iso(self.at),
            "reason": self.reason,
            "queue": self.queue,
            "type": self.type,
            "workflow_id": self.workflow_id,
            "attempt": self.attempt,
            "worker": self.worker_id,
            "tenant": self.tenant,
        }
