"""Request and response bodies, as OpenAPI documents them.

Requests are validated strictly (no "5" for 5, no unknown fields), so every
wrong field is named in one 422. The engine's own rules (ranges, names,
payload size) are checked by the engine, which stays the one place they are
written. Responses mirror the CLI's ``--json`` documents, field for field.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

MAX_BATCH = 10_000  # jobs in one POST /v1/jobs:batch


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class JobIn(_Strict):
    """One job to submit: the fields of ``queueconsole submit``. Only ``type`` is required;
    an omitted (or null) field takes the engine's default."""

    type: str = Field(description="A registered job type, e.g. resize_image")
    payload: dict[str, Any] | None = Field(default=None, description="A JSON object (≤ 1 MiB)")
    queue: str | None = Field(
        default=None, description="Queue name (default: the routing rules, else default)"
    )
    priority: str | int | None = Field(
        default=None,
        description="critical, high, normal or low, or 0-3 (default: routing rules, else normal)",
    )
    depends_on: list[int] | None = Field(
        default=None, description="Ids of existing jobs that must complete first"
    )
    idempotency_key: str | None = Field(
        default=None, description="While a live job holds this key, it is returned instead"
    )
    max_retries: int | None = Field(default=None, description="Retries after the first run (3)")
    timeout_s: float | None = Field(default=None, description="Seconds before a run is killed")
    memory_mb: int | None = Field(default=None, description="Memory the job needs, MiB")
    ttl_s: float | None = Field(
        default=None, description="Cancel the job if it has not started within this many seconds"
    )
    backoff_s: float | None = Field(default=None, description="First retry delay, seconds (1)")
    backoff_max_s: float | None = Field(default=None, description="Longest retry delay (300)")
    tenant: str | None = Field(
        default=None,
        description="The tenant the job belongs to (default: the token's, else default)",
    )


class WorkflowJobIn(JobIn):
    """One job of a workflow: a ``ref`` the others' ``depends_on`` may name."""

    ref: str = Field(description="This job's name within the workflow")
    depends_on: list[int | str] | None = Field(  # type: ignore[assignment]
        default=None, description="Refs of jobs in this workflow, or ids of existing jobs"
    )


class BatchIn(_Strict):
    """Independent jobs submitted together: all of them, or none."""

    jobs: list[JobIn] = Field(min_length=1, max_length=MAX_BATCH)


class WorkflowIn(_Strict):
    """Jobs that depend on each other by ``ref``: all of them and their edges, or nothing."""

    name: str | None = None
    jobs: list[WorkflowJobIn] = Field(min_length=1)


class LimitIn(_Strict):
    """A queue's waiting limit; null lifts it."""

    limit: int | None = Field(description="At most this many jobs waiting, or null for none")


class SubmittedOut(BaseModel):
    """A submitted job (``submit --json``)."""

    id: int
    state: str = Field(description="queued, or pending while it waits for dependencies")
    duplicate: bool = Field(description="True when a live job already held the key")


class BatchOut(BaseModel):
    """The jobs of a batch, in the order they were sent."""

    ids: list[int]
    jobs: list[SubmittedOut]


class WorkflowOut(BaseModel):
    """A submitted workflow: its id and each ref's job id (``submit --file --json``)."""

    workflow_id: int | None
    jobs: dict[str, int]


class JobRefOut(BaseModel):
    """A neighbouring job."""

    id: int
    type: str
    state: str


class ErrorOut(BaseModel):
    """A job's last error."""

    type: str | None
    message: str | None
    traceback: str | None
    fingerprint: str | None


class EventOut(BaseModel):
    """One entry of a job's audit trail."""

    model_config = ConfigDict(populate_by_name=True)
    from_: str | None = Field(alias="from")
    to: str
    at: str
    reason: str | None
    attempt: int
    worker: str | None


class LogLineOut(BaseModel):
    """A line a handler logged (``id`` only in ``/logs``, for ``after=``)."""

    id: int | None = None
    at: str
    attempt: int
    level: str
    message: str


class JobOut(BaseModel):
    """One job: the ``queueconsole job --json`` document."""

    id: int
    type: str
    queue: str
    tenant: str
    priority: str
    state: str
    attempts: int
    attempts_left: int
    max_retries: int
    payload: dict[str, Any]
    depends_on: list[int]
    dependents: list[int]
    upstream: list[JobRefOut]
    downstream: list[JobRefOut]
    error: ErrorOut | None
    created_at: str | None
    queued_at: str | None
    started_at: str | None
    finished_at: str | None
    run_at: str | None
    worker: str | None
    workflow_id: int | None
    idempotency_key: str | None
    timeout_s: float | None
    memory_mb: int | None
    ttl_s: float | None
    wait_reason: str | None
    result: Any
    peak_rss_bytes: int | None
    cpu_time_s: float | None
    events: list[EventOut]
    logs: list[LogLineOut]


class JobSummaryOut(BaseModel):
    """One row of a job list (an element of ``jobs --json``)."""

    id: int
    type: str
    queue: str
    tenant: str
    priority: str
    state: str
    attempts: int
    created_at: str | None
    started_at: str | None
    finished_at: str | None
    worker: str | None
    workflow_id: int | None
    error: str | None
    wait_reason: str | None


class JobPageOut(BaseModel):
    """A page of jobs, newest first; ask again with ``before=next_before`` for the next."""

    jobs: list[JobSummaryOut]
    next_before: int | None


class LogPageOut(BaseModel):
    """A job's log lines after ``after``; poll again with ``after=next_after``."""

    job_id: int
    logs: list[LogLineOut]
    next_after: int


class NodeOut(BaseModel):
    """One job of a workflow graph."""

    id: int
    type: str
    queue: str
    state: str
    attempts: int
    started_at: str | None
    finished_at: str | None
    wait_reason: str | None
    workflow_id: int | None


class EdgeOut(BaseModel):
    """A dependency: ``job`` waits for ``depends_on``."""

    depends_on: int
    job: int


class WorkflowGraphOut(BaseModel):
    """A workflow's jobs and dependencies (cut at 5,000 jobs: ``truncated``)."""

    workflow_id: int | None
    name: str | None
    nodes: list[NodeOut]
    edges: list[EdgeOut]
    truncated: bool


class QueueOut(BaseModel):
    """A queue (an element of ``queues --json``)."""

    name: str
    paused: bool
    max_waiting: int | None
    waiting: int


class QueuesOut(BaseModel):
    """Every known queue."""

    queues: list[QueueOut]


class PauseOut(QueueOut):
    """A queue after pause or resume (``pause --json``)."""

    changed: bool = Field(description="False when it already was paused (or running)")
    republished: int = Field(description="Resume: queued jobs published again")


class FailureGroupOut(BaseModel):
    """FAILED jobs that share an error fingerprint."""

    fingerprint: str
    count: int
    error_type: str | None
    message: str | None
    first_seen: str | None
    last_seen: str | None
    job_ids: list[int] = Field(description="The newest few, newest first")


class FailuresOut(BaseModel):
    """Failure groups, largest first, over the newest FAILED jobs."""

    groups: list[FailureGroupOut]
    scanned: int
    truncated: bool


class TransitionOut(BaseModel):
    """A job that moved because of an operation."""

    model_config = ConfigDict(populate_by_name=True)
    id: int
    from_: str | None = Field(alias="from")
    to: str


class ChangeOut(BaseModel):
    """What a cancel or retry changed (``cancel --json``, plus ``released`` and ``blocked``)."""

    model_config = ConfigDict(populate_by_name=True)
    id: int
    from_: str | None = Field(alias="from")
    state: str
    affected: list[TransitionOut] = Field(description="Every other job that moved")
    released: list[int] = Field(description="Blocked dependents that may run again")
    blocked: list[int] = Field(description="Dependents that became blocked")


class GroupRetriedOut(BaseModel):
    """What retrying a failure group did."""

    fingerprint: str
    retried: int
    skipped: int = Field(description="Jobs whose state changed meanwhile; left as they were")
    released: int = Field(description="Blocked dependents that may run again")
    batches: int


class StatusOut(BaseModel):
    """The ``status --json`` document: ``queues``, ``workers``, ``services``, ``sections``,
    ``doctor`` and the rest of the dashboard snapshot."""

    model_config = ConfigDict(extra="allow")


class ServiceOut(BaseModel):
    """One service as ``/healthz`` saw it."""

    up: bool
    latency_ms: float | None
    error: str | None = None


class HealthOut(BaseModel):
    """``/healthz``: ``ok`` while PostgreSQL and RabbitMQ answer (Redis is reported only)."""

    status: str = Field(description="ok or unavailable")
    services: dict[str, ServiceOut]
