"""Jobs as the read API returns them: one job in detail, a page of rows, a filter.

Payloads and results are kept as JSON text and parsed on access, so no caller
can mutate shared state.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.priority import Priority
from engine.snapshots.common import iso
from engine.states import State


@dataclass(frozen=True, slots=True)
class JobEvent:
    """One entry of a job's audit trail."""

    at: datetime
    from_state: State | None
    to_state: State
    attempt: int
    worker_id: str | None
    reason: str | None

    def to_json(self) -> dict[str, Any]:
        """The ``events[]`` entry of ``queueconsole job --json``."""
        return {
            "from": self.from_state.value if self.from_state else None,
            "to": self.to_state.value,
            "at": iso(self.at),
            "reason": self.reason,
            "attempt": self.attempt,
            "worker": self.worker_id,
        }


@dataclass(frozen=True, slots=True)
class LogLine:
    """A line a handler logged during one attempt."""

    at: datetime
    attempt: int
    level: str
    message: str
    id: int | None = None
    """The line's id, when it was read to be paged through (``after=``)."""

    def to_json(self) -> dict[str, Any]:
        """The ``logs[]`` entry of ``queueconsole job --json``."""
        return {
            "at": iso(self.at),
            "attempt": self.attempt,
            "level": self.level,
            "message": self.message,
        }


@dataclass(frozen=True, slots=True)
class JobRef:
    """A neighbouring job in the dependency graph."""

    id: int
    type: str
    state: State

    def to_json(self) -> dict[str, Any]:
        """``{"id", "type", "state"}``."""
        return {"id": self.id, "type": self.type, "state": self.state.value}


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """The last error of a job."""

    type: str | None
    message: str | None
    traceback: str | None
    fingerprint: str | None

    def to_json(self) -> dict[str, Any]:
        """The ``error`` object of ``queueconsole job --json``."""
        return {
            "type": self.type,
            "message": self.message,
            "traceback": self.traceback,
            "fingerprint": self.fingerprint,
        }


@dataclass(frozen=True, slots=True)
class JobDetail:
    """Everything known about one job: the job detail pane and ``queueconsole job``."""

    id: int
    type: str
    queue: str
    priority: Priority
    state: State
    payload_json: str
    idempotency_key: str | None
    workflow_id: int | None
    attempts: int
    attempts_left: int
    max_retries: int
    timeout_s: float | None
    memory_mb: int | None
    ttl_s: float | None
    run_at: datetime | None
    created_at: datetime
    queued_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    worker_id: str | None
    wait_reason: str | None
    error: ErrorInfo | None
    result_json: str | None
    peak_rss_bytes: int | None
    cpu_time_s: float | None
    upstream: tuple[JobRef, ...]
    downstream: tuple[JobRef, ...]
    events: tuple[JobEvent, ...]
    logs: tuple[LogLine, ...]
    backoff_s: float = 1.0
    """Seconds before the first retry; each later wait doubles, up to ``backoff_max_s``."""
    backoff_max_s: float = 300.0
    """The longest wait between two attempts, in seconds."""
    cpu: float | None = None
    """Cores requested (None: no request)."""
    tenant: str = "default"
    """Who the job belongs to."""

    @property
    def payload(self) -> dict[str, Any]:
        """A fresh copy of the payload (always a JSON object: submissions refuse others)."""
        payload: dict[str, Any] = json.loads(self.payload_json)
        return payload

    @property
    def result(self) -> Any:
        """A fresh copy of the result summary, or None."""
        return None if self.result_json is None else json.loads(self.result_json)

    def to_json(self) -> dict[str, Any]:
        """The ``queueconsole job --json`` document (a contract: add keys, never rename)."""
        return {
            "id": self.id,
            "type": self.type,
            "queue": self.queue,
            "tenant": self.tenant,
            "priority": self.priority.label,
            "state": self.state.value,
            "attempts": self.attempts,
            "attempts_left": self.attempts_left,
            "max_retries": self.max_retries,
            "payload": self.payload,
            "depends_on": [j.id for j in self.upstream],
            "dependents": [j.id for j in self.downstream],
            "upstream": [j.to_json() for j in self.upstream],
            "downstream": [j.to_json() for j in self.downstream],
            "error": self.error.to_json() if self.error else None,
            "created_at": iso(self.created_at),
            "queued_at": iso(self.queued_at),
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "run_at": iso(self.run_at),
            "worker": self.worker_id,
            "workflow_id": self.workflow_id,
            "idempotency_key": self.idempotency_key,
            "timeout_s": self.timeout_s,
            "memory_mb": self.memory_mb,
            "cpu": self.cpu,
            "ttl_s": self.ttl_s,
            "backoff_s": self.backoff_s,
            "backoff_max_s": self.backoff_max_s,
            "wait_reason": self.wait_reason,
            "result": self.result,
            "peak_rss_bytes": self.peak_rss_bytes,
            "cpu_time_s": self.cpu_time_s,
            "events": [e.to_json() for e in self.events],
            "logs": [line.to_json() for line in self.logs],
        }


@dataclass(frozen=True, slots=True)
class JobSummary:
    """One row of a job list."""

    id: int
    type: str
    queue: str
    priority: Priority
    state: State
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    worker_id: str | None
    workflow_id: int | None
    error_message: str | None
    wait_reason: str | None
    error_type: str | None = None
    error_fingerprint: str | None = None
    tenant: str = "default"

    @property
    def failure_group(self) -> str:
        """The failure group this job's last error belongs to (see :func:`failure_group_key`)."""
        return failure_group_key(self.error_fingerprint, self.error_type)

    def to_json(self) -> dict[str, Any]:
        """One element of ``queueconsole jobs --json``."""
        return {
            "id": self.id,
            "type": self.type,
            "queue": self.queue,
            "tenant": self.tenant,
            "priority": self.priority.label,
            "state": self.state.value,
            "attempts": self.attempts,
            "created_at": iso(self.created_at),
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "worker": self.worker_id,
            "workflow_id": self.workflow_id,
            "error": self.error_message,
            "wait_reason": self.wait_reason,
        }


@dataclass(frozen=True, slots=True)
class JobFilter:
    """What a job list is narrowed to; every field is optional."""

    state: State | None = None
    queue: str | None = None
    type: str | None = None
    text: str | None = None
    workflow_id: int | None = None
    tenant: str | None = None
    """Only this tenant's jobs (a tenant-bound token's listing, ``tenant:T``, ``--tenant``)."""


JOB_SORT_COLUMNS = ("id", "state", "type", "queue", "priority", "attempts")
"""What a job list can be ordered by (``created`` is ``id``: ids are given in order)."""


@dataclass(frozen=True, slots=True)
class JobSort:
    """The order of a job list: a column of :data:`JOB_SORT_COLUMNS`, then id, the same way.

    Pages stay keyset queries in any order (the next page starts after the last row's
    ``(column, id)``); a column with an index (id; queue and type, also within a state)
    reads only the page, the others sort the rows that match the filter on the server.
    """

    column: str = "id"
    descending: bool = True

    def __post_init__(self) -> None:
        if self.column not in JOB_SORT_COLUMNS:
            names = ", ".join(JOB_SORT_COLUMNS)
            raise ValueError(f"cannot sort jobs by {self.column!r}; use one of {names}")


SortKey = tuple[str | int, int]
"""Where a sorted page ends: the last row's sort value and id (``JobPage.next_after``)."""


@dataclass(frozen=True, slots=True)
class LogPage:
    """A job's log lines after a line id, oldest first; ``next_after`` continues from the
    last line (or repeats ``after`` when there was none yet)."""

    job_id: int
    lines: tuple[LogLine, ...]
    next_after: int


@dataclass(frozen=True, slots=True)
class JobPage:
    """A page of jobs, newest first unless sorted otherwise; pass ``next_before`` (newest
    first) or ``next_after`` (any :class:`JobSort`) to get the next page."""

    items: tuple[JobSummary, ...]
    next_before: int | None
    next_after: SortKey | None = None


FAILURE_GROUP_UNKNOWN = "unknown"
"""The key of a failed job that recorded neither a fingerprint nor an exception type."""


def failure_group_key(error_fingerprint: str | None, error_type: str | None) -> str:
    """The failure group of a job's last error, as the engine groups them everywhere.

    The Python twin of ``engine.queries.jobs.JOB_FAILURE_GROUP_KEY`` (SQL's
    ``coalesce``: an empty string is a value, only None falls through), so a
    job list can be sorted into the groups the dashboard counted and a group's
    retry selects; ``tests/engine/test_retry_group.py`` holds the two together.
    """
    if error_fingerprint is not None:
        return error_fingerprint
    if error_type is not None:
        return error_type
    return FAILURE_GROUP_UNKNOWN
