"""Immutable snapshots of live status: the dashboard and its sections.

Frozen dataclasses of plain values and tuples, safe to hand to another
thread or keep in a widget while the next refresh is built. Each section says
whether it could be built (``available``) and from where (``source``), so a
view can show "Redis down, counts from PostgreSQL" instead of failing whole.
The ``to_json`` methods define ``queueconsole status --json``: fields are
added, never renamed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from engine.states import State

SOURCE_REDIS = "redis"
SOURCE_POSTGRESQL = "postgresql"
SOURCE_NONE = "none"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


@dataclass(frozen=True, slots=True)
class BrokerDepth:
    """What RabbitMQ holds for one engine queue; None where the broker cannot say (unacked
    needs the management plugin)."""

    ready: int | None
    unacked: int | None
    consumers: int | None = None


@dataclass(frozen=True, slots=True)
class QueueView:
    """One queue: jobs per state, what the broker holds, and its settings."""

    name: str
    paused: bool
    max_waiting: int | None
    counts: tuple[tuple[State, int], ...]
    """Every state, in :class:`State` order, with its number of jobs (never negative)."""
    broker_ready: int | None = None
    """Messages ready in RabbitMQ; None when the broker could not be asked."""
    broker_unacked: int | None = None
    """Messages delivered to a worker and not yet acknowledged."""
    consumers: int | None = None

    def count(self, state: State) -> int:
        """Jobs of this queue in ``state``."""
        return dict(self.counts).get(state, 0)

    @property
    def total(self) -> int:
        """Jobs in the queue, any state."""
        return sum(n for _, n in self.counts)

    def to_json(self) -> dict[str, Any]:
        """Per-queue entry of ``queueconsole status --json``."""
        return {
            "paused": self.paused,
            "max_waiting": self.max_waiting,
            "counts": {s.value: n for s, n in self.counts},
            "broker_ready": self.broker_ready,
            "broker_unacked": self.broker_unacked,
            "consumers": self.consumers,
        }


@dataclass(frozen=True, slots=True)
class QueuesSection:
    """Every known queue. Counts come from Redis when its counters are whole, else
    from PostgreSQL's count tables (never from counting ``jobs``)."""

    available: bool
    source: str
    queues: tuple[QueueView, ...] = ()
    error: str | None = None
    broker_available: bool = False
    broker_error: str | None = None

    def queue(self, name: str) -> QueueView | None:
        """The view of one queue, if known."""
        return next((q for q in self.queues if q.name == name), None)

    def totals(self) -> Mapping[State, int]:
        """Jobs per state over all queues."""
        out = dict.fromkeys(State, 0)
        for q in self.queues:
            for s, n in q.counts:
                out[s] += n
        return out


@dataclass(frozen=True, slots=True)
class ThroughputPoint:
    """Runs that ended in one second or one minute (``start`` is its first second)."""

    start: datetime
    completed: int
    failed: int
    """Runs that ended in an error (to RETRYING or FAILED)."""


@dataclass(frozen=True, slots=True)
class ThroughputSection:
    """Completions and failures per second (recent minutes) and per minute (last hour)."""

    available: bool
    source: str
    per_second: tuple[ThroughputPoint, ...] = ()
    per_minute: tuple[ThroughputPoint, ...] = ()
    error: str | None = None
    covers_from: datetime | None = None
    """Earliest moment the series are complete from; later than the window start when the
    PostgreSQL fallback had to stop early (it reads a bounded number of events)."""

    @property
    def completed(self) -> int:
        """Completions in the per-minute window."""
        return sum(p.completed for p in self.per_minute)

    @property
    def failed(self) -> int:
        """Failed runs in the per-minute window."""
        return sum(p.failed for p in self.per_minute)

    @property
    def failure_rate(self) -> float | None:
        """Failed runs / ended runs over the per-minute window; None with no runs."""
        ended = self.completed + self.failed
        return self.failed / ended if ended else None


@dataclass(frozen=True, slots=True)
class TypeLatency:
    """Wait (queued to started) and run time (started to finished) of one job type."""

    type: str
    finished: int
    wait_p50_ms: float | None
    wait_p95_ms: float | None
    run_p50_ms: float | None
    run_p95_ms: float | None


@dataclass(frozen=True, slots=True)
class LatencySection:
    """Percentiles over the most recently finished jobs (a bounded window, never a scan)."""

    available: bool
    window_s: int
    sample: int = 0
    """Jobs the percentiles were computed from."""
    wait_p50_ms: float | None = None
    wait_p95_ms: float | None = None
    run_p50_ms: float | None = None
    run_p95_ms: float | None = None
    by_type: tuple[TypeLatency, ...] = ()
    error: str | None = None


@dataclass(frozen=True, slots=True)
class MemorySample:
    """A worker's resident memory at one moment."""

    at: datetime
    rss_bytes: int


@dataclass(frozen=True, slots=True)
class WorkerView:
    """One worker process: PostgreSQL's record, plus Redis's live extras when present."""

    id: str
    host: str
    pid: int
    queues: tuple[str, ...]
    state: str
    current_job_id: int | None
    rss_bytes: int | None
    cpu_percent: float | None
    heartbeat_age_s: float
    """Seconds since the last heartbeat, by the database clock."""
    jobs_done: int
    jobs_failed: int
    started_at: datetime
    stopped_at: datetime | None = None
    max_memory_mb: int | None = None
    prefetch_in_flight: int | None = None
    memory_history: tuple[MemorySample, ...] = ()
    """Oldest first; empty when Redis is down or the worker never beat into it."""

    @property
    def live(self) -> bool:
        """Not stopped (it may still be overdue; see ``heartbeat_age_s``)."""
        return self.stopped_at is None

    def to_json(self) -> dict[str, Any]:
        """One element of ``workers`` in ``queueconsole status --json``."""
        return {
            "id": self.id,
            "host": self.host,
            "pid": self.pid,
            "queues": list(self.queues),
            "state": self.state,
            "current_job": self.current_job_id,
            "rss_bytes": self.rss_bytes,
            "cpu_percent": _round(self.cpu_percent),
            "heartbeat_age_s": _round(self.heartbeat_age_s),
            "jobs_done": self.jobs_done,
            "jobs_failed": self.jobs_failed,
            "started_at": _iso(self.started_at),
            "stopped_at": _iso(self.stopped_at),
            "prefetch_in_flight": self.prefetch_in_flight,
            "memory_history": [[_iso(m.at), m.rss_bytes] for m in self.memory_history],
        }


@dataclass(frozen=True, slots=True)
class WorkersSection:
    """Live workers and those stopped recently."""

    available: bool
    workers: tuple[WorkerView, ...] = ()
    error: str | None = None
    extras_available: bool = False
    """Whether Redis's live extras (memory history, in-flight) could be read."""


@dataclass(frozen=True, slots=True)
class ServiceHealth:
    """Whether one service answers, how fast, and where it is (password masked)."""

    name: str
    up: bool
    url: str
    latency_ms: float | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Per-service entry of ``services`` in ``queueconsole status --json``."""
        return {
            "up": self.up,
            "latency_ms": _round(self.latency_ms, 2),
            "url": self.url,
            "error": self.error,
        }


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
            "at": _iso(self.at),
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


@dataclass(frozen=True, slots=True)
class FailureGroup:
    """FAILED jobs that share an error fingerprint (exception type + normalised message)."""

    fingerprint: str
    count: int
    error_type: str | None
    sample_message: str | None
    first_seen: datetime | None
    last_seen: datetime | None
    job_ids: tuple[int, ...]
    """The newest few jobs of the group, newest first."""

    def to_json(self) -> dict[str, Any]:
        """One element of ``failures`` in the dashboard JSON."""
        return {
            "fingerprint": self.fingerprint,
            "count": self.count,
            "error_type": self.error_type,
            "message": self.sample_message,
            "first_seen": _iso(self.first_seen),
            "last_seen": _iso(self.last_seen),
            "job_ids": list(self.job_ids),
        }


@dataclass(frozen=True, slots=True)
class FailuresSection:
    """Failure groups, largest first, over the most recent FAILED jobs."""

    available: bool
    groups: tuple[FailureGroup, ...] = ()
    scanned: int = 0
    """FAILED jobs examined; equal to the scan limit when older ones were left out."""
    truncated: bool = False
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Dashboard:
    """Everything the overview shows, taken at one moment."""

    taken_at: datetime
    queues: QueuesSection
    throughput: ThroughputSection
    latency: LatencySection
    workers: WorkersSection
    services: tuple[ServiceHealth, ...]
    events: EventsSection
    failures: FailuresSection
    db_ms: float = 0.0
    """Time spent waiting on PostgreSQL while building this snapshot (summed per query)."""
    timings_ms: tuple[tuple[str, float], ...] = field(default=())
    """Wall time of each section, for the curious and the benchmark."""

    def service(self, name: str) -> ServiceHealth | None:
        """Health of ``postgresql``, ``rabbitmq`` or ``redis``."""
        return next((s for s in self.services if s.name == name), None)

    def to_json(self) -> dict[str, Any]:
        """The ``queueconsole status --json`` document (a contract: add keys, never rename)."""
        tp = self.throughput
        lat = self.latency
        return {
            "taken_at": self.taken_at.isoformat(),
            "queues": {q.name: q.to_json() for q in self.queues.queues},
            "workers": [w.to_json() for w in self.workers.workers],
            "services": {s.name: s.to_json() for s in self.services},
            "sections": {
                name: {"available": available, "source": source, "error": error}
                for name, available, source, error in (
                    ("queues", self.queues.available, self.queues.source, self.queues.error),
                    ("broker", self.queues.broker_available, "rabbitmq", self.queues.broker_error),
                    ("throughput", tp.available, tp.source, tp.error),
                    ("latency", lat.available, SOURCE_POSTGRESQL, lat.error),
                    ("workers", self.workers.available, SOURCE_POSTGRESQL, self.workers.error),
                    ("events", self.events.available, self.events.source, self.events.error),
                    ("failures", self.failures.available, SOURCE_POSTGRESQL, self.failures.error),
                )
            },
            "throughput": {
                "completed": tp.completed,
                "failed": tp.failed,
                "failure_rate": tp.failure_rate,
                "per_second": [[_iso(p.start), p.completed, p.failed] for p in tp.per_second],
                "per_minute": [[_iso(p.start), p.completed, p.failed] for p in tp.per_minute],
            },
            "latency": {
                "window_s": lat.window_s,
                "sample": lat.sample,
                "wait_p50_ms": _round(lat.wait_p50_ms),
                "wait_p95_ms": _round(lat.wait_p95_ms),
                "run_p50_ms": _round(lat.run_p50_ms),
                "run_p95_ms": _round(lat.run_p95_ms),
                "by_type": {
                    t.type: {
                        "finished": t.finished,
                        "wait_p50_ms": _round(t.wait_p50_ms),
                        "wait_p95_ms": _round(t.wait_p95_ms),
                        "run_p50_ms": _round(t.run_p50_ms),
                        "run_p95_ms": _round(t.run_p95_ms),
                    }
                    for t in lat.by_type
                },
            },
            "events": [e.to_json() for e in self.events.events],
            "failures": [g.to_json() for g in self.failures.groups],
        }


def epoch_to_datetime(seconds: float) -> datetime:
    """A Unix time as an aware UTC datetime."""
    return datetime.fromtimestamp(seconds, tz=UTC)
