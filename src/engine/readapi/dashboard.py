"""The live dashboard: one immutable snapshot of queues, throughput, latency, workers,
services, recent events and failures.

Redis is asked first for what it caches (counts, the throughput ring, recent
events, workers' memory history); whatever is missing, untrusted or down is
read from PostgreSQL and written back. Every PostgreSQL query here is bounded
(see :mod:`engine.queries.events`), so a snapshot costs the same at a
thousand jobs as at millions. Sections are built concurrently and
independently: one whose service is down comes back ``available=False`` with
the reason, and the others still arrive.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from engine.broker.depth import queue_depths
from engine.config import Settings
from engine.db.database import Database
from engine.db.sql import Sql
from engine.errors import ServiceUnavailable
from engine.queries.counts import COUNT_SOURCE, COUNT_TOTALS
from engine.queries.events import EVENT_LIST_RECENT, EVENT_THROUGHPUT_RECENT
from engine.queries.jobs import JOB_FAILURE_GROUPS, JOB_LATENCY_RECENT, JOB_STATE_VERSION_MANY
from engine.queries.queues import QUEUE_LIST
from engine.queries.tenants import TENANT_LOAD
from engine.queries.workers import WORKER_LIST_RECENT
from engine.readapi.replica import ReplicaReads
from engine.snapshots import (
    SOURCE_NONE,
    SOURCE_POSTGRESQL,
    SOURCE_REDIS,
    BrokerDepth,
    Dashboard,
    EventsSection,
    EventView,
    FailureGroup,
    FailuresSection,
    LatencySection,
    QueuesSection,
    QueueView,
    ServiceHealth,
    ThroughputPoint,
    ThroughputSection,
    TypeLatency,
    Worker,
    WorkersSection,
    epoch_to_datetime,
)
from engine.snapshots.tenants import OTHER_TENANTS, TenantLoad, TenantsSection
from engine.states import State
from engine.status.cache import CachedJob, StatusCache
from engine.status.health import probe_all

if TYPE_CHECKING:
    from sqlalchemy.engine import CursorResult
    from sqlalchemy.ext.asyncio import AsyncConnection

log = logging.getLogger(__name__)

T = TypeVar("T")

PER_SECOND_WINDOW_S = 300  # the per-second series covers the last five minutes
PER_MINUTE_WINDOW_MIN = 60  # the per-minute series covers the last hour
EVENT_SCAN = 10_000  # newest events the PostgreSQL throughput fallback reads at most
LATENCY_WINDOW_S = 600  # percentiles over runs that ended in the last ten minutes...
LATENCY_SCAN = 20_000  # ...found among at most this many newest events...
LATENCY_SAMPLE = 1_000  # ...and at most this many jobs (p95 still rests on 50 of them)
FAILURE_SCAN = 10_000  # newest FAILED jobs grouped by fingerprint
FAILURE_GROUPS = 20  # largest groups shown
FAILURE_SAMPLE_IDS = 5  # job ids shown per group
RECENT_EVENTS = 50  # events shown
WORKERS_SHOWN = 500  # workers listed at most
STOPPED_WORKERS_SHOWN_S = 600  # seconds a stopped worker stays listed
BROKER_TIMEOUT_S = 2.0  # seconds the broker may take to report its queue depths

BrokerDepths = Callable[
    [Settings, Sequence[str]], Awaitable[Mapping[str, BrokerDepth]] | Mapping[str, BrokerDepth]
]
"""``(settings, queue names) -> {queue: depth}``, sync (run in a thread) or async, like
``engine.broker.depth.queue_depths``."""


class DbClock:
    """Adds up the time spent waiting on PostgreSQL, query by query."""

    def __init__(self) -> None:
        self.ms = 0.0
        self.queries = 0

    async def execute(
        self, conn: AsyncConnection, statement: Sql, params: Mapping[str, Any] | None = None
    ) -> CursorResult[Any]:
        """``conn.execute`` with its time added to :attr:`ms`."""
        started = time.perf_counter()
        try:
            return await conn.execute(statement, dict(params or {}))
        finally:
            self.ms += (time.perf_counter() - started) * 1000.0
            self.queries += 1

    async def rows(
        self, db: Database, statement: Sql, params: Mapping[str, Any] | None = None
    ) -> list[Any]:
        """Every row of one query run on a connection of its own, timed."""
        async with db.connection() as conn:
            return list((await self.execute(conn, statement, params)).all())


TENANTS_SHOWN = 20  # tenants shown by name (Overview rows, metric labels); the rest summed
TENANT_WINDOW_S = 600.0  # seconds of finished jobs the per-tenant done/failed figures cover


def _why(exc: BaseException) -> str:
    if isinstance(exc, ServiceUnavailable):
        return str(exc)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return text or type(exc).__name__


async def _cached(read: Awaitable[T]) -> T | None:
    """A cache read that may fail: None means "ask PostgreSQL"."""
    try:
        return await read
    except ServiceUnavailable:
        return None


async def database_source(db: Database, clock: DbClock | None = None) -> str | None:
    """The token the status cache must be about to be believed; None when PostgreSQL
    is down (the cache is then read without that check, as the best there is)."""
    clock = clock or DbClock()
    try:
        async with db.connection() as conn:
            return str((await clock.execute(conn, COUNT_SOURCE)).scalar_one())
    except ServiceUnavailable:
        return None


async def _source(
    db: Database, cache: StatusCache | None, source: str | None, clock: DbClock
) -> str | None:
    if cache is None or source is not None:
        return source
    return await database_source(db, clock)


# ---------------------------------------------------------------------------
# Queues
# ---------------------------------------------------------------------------


async def _call_depths(
    fn: BrokerDepths, settings: Settings, names: list[str]
) -> Mapping[str, BrokerDepth]:
    async with asyncio.timeout(BROKER_TIMEOUT_S):
        if inspect.iscoroutinefunction(fn):
            result = await fn(settings, names)
        else:
            result = await asyncio.to_thread(fn, settings, names)
    if isinstance(result, Mapping):
        return result
    raise TypeError(f"broker depths returned {type(result).__name__}, not a mapping")


async def queues(
    db: Database,
    settings: Settings,
    *,
    cache: StatusCache | None = None,
    broker_depths: BrokerDepths | None = None,
    clock: DbClock | None = None,
    source: str | None = None,
) -> QueuesSection:
    """Every known queue with jobs per state, broker depth and settings.

    Counts come from Redis when its counters are whole; otherwise from
    PostgreSQL's count tables, and Redis is repopulated with them. With
    PostgreSQL down, whole Redis counters still give the counts (without the
    queues' settings).
    """
    clock = clock or DbClock()
    source = await _source(db, cache, source, clock)
    counts = await _cached(cache.read_counts(source)) if cache is not None else None
    origin = SOURCE_REDIS if counts is not None else SOURCE_POSTGRESQL
    settings_by_queue: dict[str, tuple[bool, int | None]] = {}
    error = None
    try:
        async with db.connection() as conn:
            for r in await clock.execute(conn, QUEUE_LIST):
                settings_by_queue[r.name] = (bool(r.paused), r.max_waiting)
            if counts is None:
                totals = {
                    (r.queue, r.state): int(r.jobs) for r in await clock.execute(conn, COUNT_TOTALS)
                }
                counts = {(q, State(s)): n for (q, s), n in totals.items()}
                if cache is not None:
                    if source is None:
                        source = str((await clock.execute(conn, COUNT_SOURCE)).scalar_one())
                    await _cached(cache.write_counts(totals, source))
    except ServiceUnavailable as exc:
        if counts is None:
            return QueuesSection(False, SOURCE_NONE, error=_why(exc))
        error = f"queue settings unavailable: {_why(exc)}"

    names = sorted(set(settings_by_queue) | {q for q, _ in counts})
    broker: Mapping[str, BrokerDepth] = {}
    broker_error = None
    fn = broker_depths if broker_depths is not None else queue_depths
    if names:
        try:
            broker = await _call_depths(fn, settings, names)
        except Exception as exc:  # the broker's trouble must not hide the counts
            broker_error = _why(exc) if not isinstance(exc, TimeoutError) else "no answer in time"
    views = []
    for name in names:
        paused, max_waiting = settings_by_queue.get(name, (False, None))
        depth = broker.get(name)
        views.append(
            QueueView(
                name=name,
                paused=paused,
                max_waiting=max_waiting,
                counts=tuple((s, max(0, counts.get((name, s), 0))) for s in State),
                broker_ready=depth.ready if depth else None,
                broker_unacked=depth.unacked if depth else None,
                consumers=depth.consumers if depth else None,
            )
        )
    return QueuesSection(
        True,
        origin,
        tuple(views),
        error=error,
        broker_available=broker_error is None,
        broker_error=broker_error,
    )


# ---------------------------------------------------------------------------
# Throughput
# ---------------------------------------------------------------------------


async def _throughput_from_db(
    db: Database, since: int, clock: DbClock
) -> tuple[dict[int, tuple[int, int]], int]:
    """Per-second (completed, failed) since ``since`` and the second it is complete from."""
    rows = await clock.rows(
        db, EVENT_THROUGHPUT_RECENT, {"scan": EVENT_SCAN, "since": epoch_to_datetime(since)}
    )
    per_second: dict[int, tuple[int, int]] = {}
    complete_from = since
    for r in rows:
        if r.sec is None:
            if int(r.n) >= EVENT_SCAN and r.oldest is not None:
                complete_from = int(r.oldest.timestamp()) + 1
            continue
        if r.completed or r.failed:
            per_second[int(r.sec)] = (int(r.completed), int(r.failed))
    return per_second, complete_from


RING_HANDOVER_S = 2
"""Seconds after the ring began for which job_events, not the ring, answers."""


async def throughput(
    db: Database,
    *,
    cache: StatusCache | None = None,
    clock: DbClock | None = None,
    now: float | None = None,
    source: str | None = None,
) -> ThroughputSection:
    """Completions and failed runs per second (last five minutes) and minute (last hour).

    From the Redis ring; the part of the hour the ring does not cover (it was
    flushed, evicted or dropped after lost writes) comes from ``job_events``.
    """
    clock = clock or DbClock()
    now_s = int(time.time() if now is None else now)
    minute_start = now_s - now_s % 60 - (PER_MINUTE_WINDOW_MIN - 1) * 60
    source = await _source(db, cache, source, clock)
    ring = await _cached(cache.read_ring(source)) if cache is not None else None
    per_second: dict[int, tuple[int, int]] = {}
    complete_from = minute_start
    origin = SOURCE_POSTGRESQL
    error = None
    if ring is not None:
        origin = SOURCE_REDIS
        per_second = {s: (c, f) for s, c, f in ring.seconds if s >= minute_start}
    if ring is None or ring.since > minute_start:
        try:
            from_db, complete_from = await _throughput_from_db(db, minute_start, clock)
        except ServiceUnavailable as exc:
            if ring is None:
                return ThroughputSection(False, SOURCE_NONE, error=_why(exc))
            complete_from = ring.since
            error = f"history before the cache began unavailable: {_why(exc)}"
        else:
            # The ring's first second may lack what happened in it before the ring began:
            # PostgreSQL answers for every second up to and including it, and for a
            # couple more: an event's time in job_events is its transaction's start,
            # while the ring files it when the commit is written, a second later when
            # the boundary falls in between — counted by both, it would count twice.
            cut = ring.since + RING_HANDOVER_S if ring is not None else now_s
            per_second = {s: v for s, v in per_second.items() if s > cut}
            per_second.update({s: v for s, v in from_db.items() if s <= cut})
    seconds = tuple(
        ThroughputPoint(epoch_to_datetime(s), *per_second.get(s, (0, 0)))
        for s in range(now_s - PER_SECOND_WINDOW_S + 1, now_s + 1)
    )
    minutes = []
    for m in range(minute_start, now_s + 1, 60):
        done = sum(per_second.get(s, (0, 0))[0] for s in range(m, m + 60))
        failed = sum(per_second.get(s, (0, 0))[1] for s in range(m, m + 60))
        minutes.append(ThroughputPoint(epoch_to_datetime(m), done, failed))
    return ThroughputSection(
        True,
        origin,
        seconds,
        tuple(minutes),
        error=error,
        covers_from=epoch_to_datetime(max(complete_from, minute_start)),
    )


# ---------------------------------------------------------------------------
# Latency
# ---------------------------------------------------------------------------


def _ms(values: Sequence[float | None] | None, i: int) -> float | None:
    value = values[i] if values and len(values) > i else None
    return None if value is None else float(value) * 1000.0


async def latency(
    db: Database, *, clock: DbClock | None = None, window_s: int = LATENCY_WINDOW_S
) -> LatencySection:
    """Wait and run time p50/p95, overall and per type, of the jobs that most recently
    finished (at most :data:`LATENCY_SAMPLE` of those that ended in ``window_s``)."""
    clock = clock or DbClock()
    try:
        rows = await clock.rows(
            db,
            JOB_LATENCY_RECENT,
            {"scan": LATENCY_SCAN, "sample": LATENCY_SAMPLE, "window_s": window_s},
        )
    except ServiceUnavailable as exc:
        return LatencySection(False, window_s, error=_why(exc))
    overall = next((r for r in rows if r.overall), None)
    by_type = tuple(
        sorted(
            (
                TypeLatency(
                    r.type,
                    int(r.finished),
                    _ms(r.wait_s, 0),
                    _ms(r.wait_s, 1),
                    _ms(r.run_s, 0),
                    _ms(r.run_s, 1),
                )
                for r in rows
                if not r.overall
            ),
            key=lambda t: (-t.finished, t.type),
        )
    )
    if overall is None:
        return LatencySection(True, window_s)
    return LatencySection(
        True,
        window_s,
        sample=int(overall.finished),
        wait_p50_ms=_ms(overall.wait_s, 0),
        wait_p95_ms=_ms(overall.wait_s, 1),
        run_p50_ms=_ms(overall.run_s, 0),
        run_p95_ms=_ms(overall.run_s, 1),
        by_type=by_type,
    )


# ---------------------------------------------------------------------------
# Workers
# ---------------------------------------------------------------------------


async def workers(
    db: Database, *, cache: StatusCache | None = None, clock: DbClock | None = None
) -> WorkersSection:
    """Live workers and those stopped in the last ten minutes.

    PostgreSQL's ``workers`` table is the truth (the rescuer acts on it);
    Redis adds each worker's memory history and in-flight prefetch.
    """
    clock = clock or DbClock()
    try:
        rows = await clock.rows(
            db,
            WORKER_LIST_RECENT,
            {"stopped_within_s": STOPPED_WORKERS_SHOWN_S, "limit": WORKERS_SHOWN},
        )
    except ServiceUnavailable as exc:
        return WorkersSection(False, error=_why(exc))
    live: dict[str, Worker] = {}
    extras_ok = False
    if cache is not None:
        found = await _cached(cache.live_workers([r.id for r in rows]))
        if found is not None:
            live, extras_ok = found, True
    views = []
    for r in rows:
        seen = live.get(r.id)
        views.append(
            Worker(
                id=r.id,
                host=r.host,
                pid=int(r.pid),
                queues=tuple(r.queues or ()),
                state=r.state,
                current_job_id=r.current_job_id,
                rss_bytes=r.rss_bytes
                if r.rss_bytes is not None or seen is None
                else seen.rss_bytes,
                cpu_percent=r.cpu_percent
                if r.cpu_percent is not None or seen is None
                else seen.cpu_percent,
                heartbeat_age_s=max(0.0, float(r.heartbeat_age_s)),
                jobs_done=int(r.jobs_done),
                jobs_failed=int(r.jobs_failed),
                started_at=r.started_at,
                stopped_at=r.stopped_at,
                max_memory_mb=r.max_memory_mb,
                cpus=r.cpus,
                cpu_requested=r.cpu_requested,
                memory_requested_mb=r.memory_requested_mb,
                prefetch_in_flight=seen.prefetch_in_flight if seen else None,
                memory_history=seen.memory_history if seen else (),
            )
        )
    return WorkersSection(True, tuple(views), extras_available=extras_ok)


# ---------------------------------------------------------------------------
# Events and failures
# ---------------------------------------------------------------------------


async def recent_events(
    db: Database,
    *,
    cache: StatusCache | None = None,
    clock: DbClock | None = None,
    limit: int = RECENT_EVENTS,
    source: str | None = None,
) -> EventsSection:
    """The newest state changes, newest first: Redis's list, or ``job_events``."""
    clock = clock or DbClock()
    source = await _source(db, cache, source, clock)
    cached = await _cached(cache.recent_events(limit, source)) if cache is not None else None
    if cached is not None:
        return EventsSection(True, SOURCE_REDIS, tuple(cached[:limit]))
    try:
        rows = await clock.rows(db, EVENT_LIST_RECENT, {"limit": limit})
    except ServiceUnavailable as exc:
        return EventsSection(False, SOURCE_NONE, error=_why(exc))
    return EventsSection(
        True,
        SOURCE_POSTGRESQL,
        tuple(
            EventView(
                at=r.at,
                job_id=r.job_id,
                queue=r.queue or "?",
                type=r.type or "?",
                from_state=State(r.from_state) if r.from_state else None,
                to_state=State(r.to_state),
                attempt=r.attempt,
                worker_id=r.worker_id,
                reason=r.reason,
            )
            for r in rows
        ),
    )


async def failure_groups(
    db: Database,
    *,
    clock: DbClock | None = None,
    scan: int = FAILURE_SCAN,
    groups: int = FAILURE_GROUPS,
) -> FailuresSection:
    """FAILED jobs grouped by error fingerprint, largest group first, over the newest
    ``scan`` of them (``truncated`` says older ones were left out)."""
    clock = clock or DbClock()
    try:
        rows = await clock.rows(
            db, JOB_FAILURE_GROUPS, {"scan": scan, "groups": groups, "sample": FAILURE_SAMPLE_IDS}
        )
    except ServiceUnavailable as exc:
        return FailuresSection(False, error=_why(exc))
    scanned = int(rows[0].scanned) if rows else 0
    return FailuresSection(
        True,
        tuple(
            FailureGroup(
                fingerprint=r.fingerprint,
                count=int(r.n),
                error_type=r.error_type,
                sample_message=r.error_message,
                first_seen=r.first_seen,
                last_seen=r.last_seen,
                job_ids=tuple(int(i) for i in r.job_ids),
                tenants=tuple(r.tenants or ()),
            )
            for r in rows
        ),
        scanned=scanned,
        truncated=scanned >= scan,
    )


async def tenant_loads(
    db: Database,
    *,
    clock: DbClock | None = None,
    shown: int = TENANTS_SHOWN,
    window_s: float = TENANT_WINDOW_S,
) -> TenantsSection:
    """Tenants by live jobs, busiest first: the first ``shown`` by name, the rest summed
    as one row, so the Overview's table and the metrics' labels stay bounded."""
    clock = clock or DbClock()
    try:
        rows = await clock.rows(db, TENANT_LOAD, {"window_s": window_s})
    except ServiceUnavailable as exc:
        return TenantsSection(False, window_s=window_s, error=_why(exc))
    loads = [
        TenantLoad(
            r.name,
            int(r.waiting),
            int(r.running),
            r.max_running,
            int(r.done),
            int(r.failed),
            float(r.weight),
        )
        for r in rows
    ]
    if len(loads) > shown:
        rest = loads[shown:]
        others = TenantLoad(
            OTHER_TENANTS,
            sum(t.waiting for t in rest),
            sum(t.running for t in rest),
            None,
            sum(t.done for t in rest),
            sum(t.failed for t in rest),
        )
        loads = [*loads[:shown], others]
    return TenantsSection(True, tuple(loads), window_s=window_s)


# ---------------------------------------------------------------------------
# Per-job status
# ---------------------------------------------------------------------------


async def job_states(
    db: Database, job_ids: Sequence[int], *, cache: StatusCache | None = None
) -> dict[int, State]:
    """Current state of each job that exists: from Redis where it can be believed,
    else from PostgreSQL, writing those back to Redis."""
    wanted = list(dict.fromkeys(job_ids))
    found: dict[int, State] = {}
    if cache is not None:
        source = await database_source(db)
        cached = await _cached(cache.job_states(wanted, source))
        found = {i: c.state for i, c in (cached or {}).items()}
    missing = [i for i in wanted if i not in found]
    if missing:
        async with db.connection() as conn:
            rows = (await conn.execute(JOB_STATE_VERSION_MANY, {"ids": missing})).all()
        fetched = [
            CachedJob(r.id, State(r.state), r.version, r.queue, r.type, r.attempts, r.worker_id)
            for r in rows
        ]
        found.update({c.job_id: c.state for c in fetched})
        if cache is not None:
            await _cached(cache.store_jobs(fetched))
    return {i: found[i] for i in wanted if i in found}


# ---------------------------------------------------------------------------
# The whole dashboard
# ---------------------------------------------------------------------------


async def _timed(name: str, timings: list[tuple[str, float]], work: Awaitable[T]) -> T:
    started = time.perf_counter()
    try:
        return await work
    finally:
        timings.append((name, (time.perf_counter() - started) * 1000.0))


async def dashboard(
    db: Database,
    settings: Settings,
    *,
    cache: StatusCache | None,
    broker_depths: BrokerDepths | None = None,
    concurrent: bool = True,
    probe_services: bool = True,
) -> Dashboard:
    """One snapshot of everything the overview shows.

    Args:
        db: the engine's database (its pool is shared with the caller).
        settings: the installation (for the broker and the masked URLs).
        cache: the status cache, or None to read PostgreSQL only.
        broker_depths: ``(settings, queues) -> {queue: depth}``; by default
            ``engine.broker.depth.queue_depths`` when that module is installed.
        concurrent: build the sections at once (the default) or one after the
            other (so the benchmark can add up database time without overlap).
        probe_services: include round-trip probes of the three services.
    """
    clock = DbClock()
    timings: list[tuple[str, float]] = []
    source = await database_source(db, clock) if cache is not None else None
    works: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
        (
            "queues",
            lambda: queues(
                db,
                settings,
                cache=cache,
                broker_depths=broker_depths,
                clock=clock,
                source=source,
            ),
        ),
        ("throughput", lambda: throughput(db, cache=cache, clock=clock, source=source)),
        ("latency", lambda: latency(db, clock=clock)),
        ("workers", lambda: workers(db, cache=cache, clock=clock)),
        ("events", lambda: recent_events(db, cache=cache, clock=clock, source=source)),
        ("failures", lambda: failure_groups(db, clock=clock)),
        ("tenants", lambda: tenant_loads(db, clock=clock)),
    ]
    if probe_services:
        works.append(("services", lambda: probe_all(db, settings, cache)))
    if concurrent:
        results = await asyncio.gather(*(_timed(n, timings, w()) for n, w in works))
    else:
        results = [await _timed(n, timings, w()) for n, w in works]
    by_name = dict(zip((n for n, _ in works), results, strict=True))
    services: tuple[ServiceHealth, ...] = by_name.get("services", ())
    read_replica = await db.status() if isinstance(db, ReplicaReads) else None
    return Dashboard(
        taken_at=datetime.now(UTC),
        queues=by_name["queues"],
        throughput=by_name["throughput"],
        latency=by_name["latency"],
        workers=by_name["workers"],
        services=services,
        events=by_name["events"],
        failures=by_name["failures"],
        tenants=by_name["tenants"],
        db_ms=clock.ms,
        timings_ms=tuple(sorted(timings)),
        read_replica=read_replica,
    )
