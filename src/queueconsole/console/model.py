"""The console's view model: frozen snapshots the panes draw.

Every refresh builds new instances and hands them to widgets; nothing here is
ever mutated, so a widget can keep the last one while the next is fetched and
compare the two cheaply (dataclass equality) to skip a redraw when nothing
changed. The engine's snapshots (``engine.snapshots``: workers, service health,
failure groups, jobs) are used as they are; the types below are the console's
own: what it assembles from several engine calls (a queue row, the overview,
chart series) and what the cursor is on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from engine.client import ScheduleInfo
from engine.snapshots import (
    FailureGroup,
    JobFilter,
    JobPage,
    JobSort,
    QueueCounts,
    ReadReplicaStatus,
    ServiceHealth,
    SortKey,
    Worker,
)
from engine.snapshots.tenants import TenantLoad
from engine.states import State


@dataclass(frozen=True, slots=True)
class QueueRow:
    """One queue on the Overview and Workers panes."""

    name: str
    paused: bool
    ready: int
    """Waiting for a worker (QUEUED)."""
    unacked: int | None
    """Delivered by the broker, not yet acknowledged; None when the broker is not asked."""
    running: int
    retrying: int
    pending: int
    blocked: int
    failed: int
    completed: int
    cancelled: int
    workers: int | None = None
    """Workers serving the queue, when a supervisor or the dashboard says."""

    @staticmethod
    def from_counts(counts: QueueCounts, workers: int | None = None) -> QueueRow:
        """A row from the engine's per-state counts."""
        c = counts.counts
        return QueueRow(
            name=counts.queue,
            paused=counts.paused,
            ready=c[State.QUEUED],
            unacked=None,
            running=c[State.RUNNING],
            retrying=c[State.RETRYING],
            pending=c[State.PENDING],
            blocked=c[State.BLOCKED],
            failed=c[State.FAILED],
            completed=c[State.COMPLETED],
            cancelled=c[State.CANCELLED],
            workers=workers,
        )

    @property
    def depth(self) -> int:
        """Work not yet finished: what an operator means by a queue's depth."""
        return self.ready + self.running + self.retrying + self.pending


@dataclass(frozen=True, slots=True)
class WorkersView:
    """Every worker and the supervisor's budget."""

    workers: tuple[Worker, ...] = ()
    per_queue: tuple[tuple[str, int], ...] = ()
    """Workers the supervisor runs (or was asked to run) per queue."""
    budget_mb: int | None = None
    """The memory budget of the engine(s) whose supervisor reported; None with
    ``budget_known`` means no budget was set."""
    reserved_mb: float | None = None
    """What the budget counts as taken: each worker's memory limit, summed (not what
    the workers use). None when no supervisor reported it."""
    resident_mb: float | None = None
    """Resident memory (RSS) the shown workers measured, summed: what they use now."""
    budget_known: bool = False
    """Whether a supervisor reported its budget (the local one, or the engines an
    attached console asked); False: unknown, shown as such rather than as no budget."""
    available: bool = False
    """False when nothing reports workers (no supervisor, no dashboard)."""

    def count_for(self, queue: str) -> int:
        """Workers asked for on ``queue`` (0 when none)."""
        return dict(self.per_queue).get(queue, 0)

    def count_on(self, queue: str, host: str) -> int:
        """Live workers of ``queue`` on ``host``: what ``+``/``-`` on a worker start from."""
        return sum(1 for w in self.workers if w.live and w.host == host and queue in w.queues)


@dataclass(frozen=True, slots=True)
class FailuresView:
    """Failure groups, biggest first."""

    groups: tuple[FailureGroup, ...] = ()
    scanned: int = 0
    """How many failed jobs the grouping looked at."""
    complete: bool = True
    """False when more failed jobs exist than were grouped."""
    dead: frozenset[int] = frozenset()
    """Shown jobs whose copy is in the broker's dead-letter queue (as last swept)."""


@dataclass(frozen=True, slots=True)
class SchedulesView:
    """Every cron schedule, by name, and the ticks each missed while no engine ran."""

    schedules: tuple[ScheduleInfo, ...] = ()
    missed: tuple[tuple[str, int], ...] = ()

    def missed_for(self, name: str) -> int:
        """Ticks schedule ``name`` missed over its kept fire history."""
        return dict(self.missed).get(name, 0)


@dataclass(frozen=True, slots=True)
class Series:
    """One chart's samples, oldest first."""

    name: str
    values: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class ChartView:
    """A chart of history: its title (what, which unit), its lines and the span it covers."""

    title: str
    lines: tuple[Series, ...]
    span: str
    """The window, as its left edge is labelled (``15m``, ``1h``, ``24h``)."""


@dataclass(frozen=True, slots=True)
class DashboardParts:
    """What the engine's dashboard read API adds to a refresh, in the console's types."""

    queues: tuple[QueueRow, ...]
    workers: WorkersView | None
    throughput: Series | None
    failures_rate: Series | None
    failures: FailuresView | None
    tenants: tuple[TenantLoad, ...] = ()


@dataclass(frozen=True, slots=True)
class Overview:
    """What one refresh learnt about the whole installation."""

    at: datetime
    services: tuple[ServiceHealth, ...]
    queues: tuple[QueueRow, ...] = ()
    workers: WorkersView = field(default_factory=WorkersView)
    charts: tuple[Series, ...] = ()
    tenants: tuple[TenantLoad, ...] = ()
    """Per-tenant load, busiest first (empty when the dashboard read API gave none)."""
    read_replica: ReadReplicaStatus | None = None
    """Where reads go and the replica's lag; None without ``read_database_url``."""

    @property
    def down(self) -> tuple[ServiceHealth, ...]:
        """Services that did not answer."""
        return tuple(s for s in self.services if not s.up)

    def service(self, name: str) -> ServiceHealth | None:
        """The health of one service by name (``postgresql``, ``redis``, ``rabbitmq``)."""
        return next((s for s in self.services if s.name == name), None)


@dataclass(frozen=True, slots=True)
class JobsView:
    """One page of the Jobs pane and how it was asked for."""

    page: JobPage
    after: SortKey | None
    """The keyset cursor the page was read with (None: the first page)."""
    page_number: int
    sort: JobSort = field(default_factory=JobSort)
    """The order the page was read in."""


@dataclass(frozen=True, slots=True)
class Selection:
    """What the cursor is on in the active pane or screen; actions act on it."""

    job_id: int | None = None
    job_state: State | None = None
    workflow_id: int | None = None
    queue: str | None = None
    worker_id: str | None = None
    host: str | None = None
    """The selected worker's host, when the cursor is on a worker: ``+``/``-`` then scale
    that worker's queue on that host only (``scale --host``)."""
    group: FailureGroup | None = None
    schedule: ScheduleInfo | None = None
    marked: tuple[int, ...] = ()
    """Jobs marked with ``space`` on the Jobs pane (what ``B`` acts on)."""
    job_filter: JobFilter | None = None
    """The Jobs pane's filter, when it is the pane on screen (``B`` with nothing marked)."""
