"""The console's data source: every read the panes make, as immutable snapshots.

Widgets never call the engine; they ask this object from a Textual worker and
get frozen dataclasses back. Every read is bounded by a timeout so a service
that hangs (rather than refusing) is reported as down within seconds instead
of freezing a pane's refresh.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from engine.errors import EngineError
from engine.snapshots import (
    JobDetail,
    JobFilter,
    JobSort,
    MinuteHistory,
    ReadReplicaStatus,
    SortKey,
    WorkflowGraph,
)
from queueconsole.console.compose import merge_workers, parts_from_dashboard, supervised_workers
from queueconsole.console.health import POSTGRESQL
from queueconsole.console.history import History
from queueconsole.console.link import EngineLink
from queueconsole.console.model import (
    DashboardParts,
    FailuresView,
    JobsView,
    Overview,
    QueueRow,
    SchedulesView,
    WorkersView,
)

log = logging.getLogger(__name__)

DASHBOARD_EVERY_S = 2.0  # seconds a dashboard snapshot serves the timer's refreshes
FETCH_TIMEOUT_S = 4.0  # seconds one read may take before the refresh gives up on it
JOBS_PAGE = 100  # rows per page of the Jobs pane (one keyset page, never the whole table)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The wall clock, in UTC."""
    return datetime.now(UTC)


class DataSource:
    """Reads for the panes.

    Args:
        link: the engine.
        clock: what "now" is (snapshot tests freeze it).
        history: where the Overview's chart samples are kept.
    """

    def __init__(
        self, link: EngineLink, *, clock: Clock = utc_now, history: History | None = None
    ) -> None:
        self.link = link
        self.clock = clock
        self.history = history if history is not None else History()
        self._parts: tuple[float, DashboardParts | None] | None = None
        self.dashboard_failures: FailuresView | None = None
        """Failure groups of the last dashboard snapshot (None without one)."""

    async def overview(self, *, record: bool = True, force: bool = True) -> Overview:
        """Service health, queue depths, workers and chart history.

        Uses the engine's dashboard read API when it is installed (broker
        depths, every host's workers, throughput series, failure groups) and
        the core read API otherwise. A service that is down leaves its part
        empty; the result is still a complete snapshot the panes can draw.

        The dashboard costs tens of milliseconds of this process's CPU, so the
        timer's refreshes (``force=False``) reuse one younger than
        :data:`DASHBOARD_EVERY_S`; refreshes after an action force a new one.
        """
        at = self.clock()
        services = await self.link.health()
        postgres_up = all(s.up for s in services if s.name == POSTGRESQL)
        supervised = WorkersView()
        try:
            async with asyncio.timeout(FETCH_TIMEOUT_S):
                snapshot = await self.link.workers()
            if snapshot is not None:
                supervised = supervised_workers(snapshot)
        except Exception:  # a supervisor hiccup must not hide the queues
            log.exception("supervisor snapshot failed")
        if not postgres_up:
            return Overview(
                at,
                services,
                (),
                supervised,
                self.history.series(),
                read_replica=await self._read_replica(),
            )
        parts: DashboardParts | None = None
        now = time.monotonic()
        recent = self._parts is not None and now - self._parts[0] < DASHBOARD_EVERY_S
        if recent and not force:
            parts = self._parts[1] if self._parts is not None else None
        else:
            try:
                async with asyncio.timeout(FETCH_TIMEOUT_S):
                    board = await self.link.dashboard()
                parts = parts_from_dashboard(board) if board is not None else None
                self._parts = (now, parts)
            except (EngineError, TimeoutError, OSError) as exc:
                log.warning("dashboard unavailable, using the core read API: %s", exc)
                self._parts = None
        workers = merge_workers(parts.workers if parts else None, supervised)
        if parts is not None and parts.queues:
            queues = parts.queues
        else:
            async with asyncio.timeout(FETCH_TIMEOUT_S):
                counts = await self.link.client.queue_counts()
            queues = tuple(QueueRow.from_counts(c) for c in counts)
        if workers.available:
            queues = tuple(replace(q, workers=workers.count_for(q.name)) for q in queues)
        self.dashboard_failures = parts.failures if parts is not None else None
        if record:
            self.history.record(at, queues)
        depth, throughput, failures = self.history.series()
        if parts is not None and parts.throughput is not None:
            throughput = parts.throughput
        if parts is not None and parts.failures_rate is not None:
            failures = parts.failures_rate
        tenants = parts.tenants if parts is not None else ()
        # Asked last: the reads above may just have found the replica down.
        read_replica = await self._read_replica()
        return Overview(
            at,
            services,
            queues,
            workers,
            (depth, throughput, failures),
            tenants=tenants,
            read_replica=read_replica,
        )

    async def _read_replica(self) -> ReadReplicaStatus | None:
        """Where reads go now (measured at most every second); never raises."""
        try:
            async with asyncio.timeout(FETCH_TIMEOUT_S):
                return await self.link.client.read_replica()
        except (EngineError, TimeoutError, OSError) as exc:
            log.warning("read replica state unknown: %s", exc)
            return None

    async def minute_history(self, window: timedelta) -> MinuteHistory:
        """Every queue's per-minute history over ``window`` from PostgreSQL (the rollup
        plus the live minute): what the Overview's charts draw."""
        async with asyncio.timeout(FETCH_TIMEOUT_S):
            return await self.link.client.history(window)

    async def jobs(
        self, flt: JobFilter, sort: JobSort, after: SortKey | None, page_number: int
    ) -> JobsView:
        """One keyset page of jobs in ``sort``'s order (newest first by default)."""
        async with asyncio.timeout(FETCH_TIMEOUT_S):
            page = await self.link.client.jobs(flt, limit=JOBS_PAGE, sort=sort, after=after)
        return JobsView(page, after, page_number, sort)

    async def job(self, job_id: int) -> JobDetail:
        """One job with its neighbours, events and logs."""
        async with asyncio.timeout(FETCH_TIMEOUT_S):
            return await self.link.client.job(job_id)

    async def failures(self) -> FailuresView:
        """Failure groups, biggest first (the dashboard's, when the last overview had them)."""
        async with asyncio.timeout(FETCH_TIMEOUT_S):
            return await self.link.failures(self.dashboard_failures)

    async def default_graph(self) -> WorkflowGraph | None:
        """The graph the DAG view opens on with nothing picked: the newest workflow with
        live jobs, else the newest one; None when no workflow exists."""
        async with asyncio.timeout(FETCH_TIMEOUT_S):
            job_id = await self.link.client.workflow_job()
            return None if job_id is None else await self.link.client.workflow_graph(job_id)

    async def schedules(self) -> SchedulesView:
        """Every schedule with its missed ticks (``Client.schedules``)."""
        async with asyncio.timeout(FETCH_TIMEOUT_S):
            schedules = await self.link.client.schedules()
            missed = await self.link.client.schedule_missed_ticks() if schedules else {}
        return SchedulesView(tuple(schedules), tuple(sorted(missed.items())))

    async def graph(self, job_id: int) -> WorkflowGraph:
        """The dependency graph ``job_id`` belongs to (``Client.workflow_graph``)."""
        async with asyncio.timeout(FETCH_TIMEOUT_S):
            return await self.link.client.workflow_graph(job_id)
