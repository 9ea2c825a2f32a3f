"""The engine the console drives, behind one adapter.

The console runs in one of three modes: ``embedded`` (it starts the engine's
runtime — dispatcher, reconciler, a supervisor with local workers — and drains
it on quit), ``attached`` (it watches and controls an engine running
elsewhere, sending scale and recycle commands over the broker's control
exchange) and ``client`` (tests, or an engine without a runtime: reads and
job actions only).

Every engine piece that is optional or newer than the console's first cut is
reached from this module and nowhere else (the runtime, the control bus, the
dashboard read API, pause/resume, private service instances, the DAG
widget), so wiring a new piece in is one edit here. Each lookup degrades to
what the core :class:`~engine.client.Client` offers when the piece is absent.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import inspect
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

from engine.client import Client
from engine.config import Settings, mask_url
from engine.errors import ServiceUnavailable, UserError
from engine.snapshots import JobFilter
from engine.states import State
from queueconsole.console.model import (
    DashboardParts,
    FailureGroup,
    FailuresView,
    QueueRow,
    Series,
    ServiceHealth,
    WorkerRow,
    WorkersView,
)

log = logging.getLogger(__name__)

Mode = Literal["embedded", "attached", "client"]

PROBE_TIMEOUT_S = 2.0  # seconds a health probe may take before its service counts as down
AMQP_PROBE_EVERY_S = 5.0  # seconds between TCP probes of the broker (each one is a connection)
UP_PROBE_EVERY_S = 5.0  # seconds between probes of a service that answered last time
FAILED_SCANNED = 500  # failed jobs grouped client-side when the dashboard API is absent

SERVICES = ("PostgreSQL", "Redis", "RabbitMQ")
DEFAULT_WORKERS = 2  # local workers on the default queue when --workers is not given
GROUP_SCAN_MAX = 100_000  # failed jobs scanned at most to collect every member of a group
GROUP_SCAN_PAGE = 1000  # rows per keyset page of that scan
_SERVICE_NAMES = {"postgresql": "PostgreSQL", "redis": "Redis", "rabbitmq": "RabbitMQ"}


class UnavailableFeature(UserError):
    """An action the connected engine does not offer (yet); the message names it."""


class SupervisorLike(Protocol):
    """What the console needs from the runtime's supervisor.

    Methods may be plain or coroutines; the console awaits whatever they return.
    """

    def scale(self, queue: str, workers: int) -> Any:
        """Run ``workers`` processes on ``queue``."""

    def recycle(self, worker_id: str) -> Any:
        """Replace one worker after its current job."""

    def snapshot(self) -> Any:
        """Workers, per-queue targets and the memory budget, now."""


async def resolve(value: Any) -> Any:
    """``value``, awaited if it is awaitable (the runtime may be sync or async)."""
    if inspect.isawaitable(value):
        return await value
    return value


def _optional(module: str, name: str) -> Any | None:
    """``module.name`` when that engine piece is installed, else None."""
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None
    except Exception:  # a piece that is there but broken must not stop the console
        log.exception("cannot use %s.%s", module, name)
        return None


def dag_view_class() -> type | None:
    """The DAG widget (``queueconsole.console.dag.widget.DagView``) once it exists."""
    return _optional("queueconsole.console.dag.widget", "DagView")


class Backend:
    """The engine the console talks to.

    Args:
        settings: the installation.
        client: reads and job actions; its after-commit hooks publish and cache.
        mode: see the module docstring.
        supervisor: the embedded runtime's supervisor (scale, recycle, snapshot).
        control: the broker control bus (``--attach``): publishes scale/recycle commands.
        runtime: the embedded engine, started by :meth:`start` and drained by :meth:`stop`.
        probe: replaces the health probes (snapshot tests freeze latencies with it).
        owns_client: close the client in :meth:`stop`.
        use_dashboard: read the engine's dashboard API when it is installed (snapshot
            tests turn it off: its throughput and broker figures follow the wall clock).
    """

    def __init__(
        self,
        settings: Settings,
        client: Client,
        *,
        mode: Mode = "client",
        supervisor: SupervisorLike | None = None,
        control: Any | None = None,
        runtime: Any | None = None,
        probe: Callable[[], Awaitable[tuple[ServiceHealth, ...]]] | None = None,
        owns_client: bool = False,
        use_dashboard: bool = True,
    ) -> None:
        self.settings = settings
        self.use_dashboard = use_dashboard
        self.client = client
        self.mode: Mode = mode
        self.supervisor = supervisor
        self.control = control
        self.runtime = runtime
        self._probe = probe
        self._owns_client = owns_client
        self._redis: Any | None = None
        self._amqp_last: tuple[float, ServiceHealth] | None = None
        self._probed_at: dict[str, float] = {}
        self._last_health: dict[str, ServiceHealth] = {}
        self._closed = False
        self._cache: Any | None = None
        self._stack: contextlib.AsyncExitStack | None = None
        self.started = runtime is None

    # -- construction -----------------------------------------------------

    @classmethod
    async def open(
        cls,
        settings: Settings,
        *,
        attach: bool = False,
        workers: Mapping[str, int] | int | None = None,
        memory_budget_mb: int | None = None,
    ) -> Backend:
        """The backend for the command line: embedded by default, attached with ``--attach``.

        ``workers`` is a count per queue (``{"default": 2}``) or one count for the
        ``default`` queue. Nothing here connects yet: a dead service must not stop
        the console from opening. The embedded runtime is started by :meth:`start`.
        """
        engine_cls = _optional("engine.runtime.engine", "Engine")
        options_cls = _optional("engine.runtime.engine", "EngineOptions")
        if not attach and engine_cls is not None and options_cls is not None:
            if workers is None:
                workers = DEFAULT_WORKERS
            per_queue = {"default": workers} if isinstance(workers, int) else dict(workers)
            runtime = engine_cls(
                settings, options_cls(workers=per_queue, memory_budget_mb=memory_budget_mb)
            )
            return cls(settings, runtime.client, mode="embedded", runtime=runtime)
        stack = contextlib.AsyncExitStack()
        client = await _open_client(settings, stack)
        control = None
        bus_cls = _optional("engine.broker.control", "ControlBus")
        if attach and bus_cls is not None:
            control = bus_cls(settings)
        backend = cls(
            settings,
            client,
            mode="attached" if attach else "client",
            control=control,
            owns_client=True,
        )
        backend._stack = stack
        return backend

    # -- life cycle ---------------------------------------------------------

    async def start(self) -> None:
        """Start the embedded runtime (no-op otherwise). Raises if a service is down."""
        if self.runtime is not None and not self.started:
            await resolve(self.runtime.start())
            self.client = getattr(self.runtime, "client", None) or self.client
            self.supervisor = getattr(self.runtime, "supervisor", None)
            self.started = True

    async def stop(self) -> None:
        """Drain the embedded runtime's workers, then release connections."""
        self._closed = True
        if self.runtime is not None and self.started:
            await resolve(self.runtime.stop())
            self.started = False
        if self.control is not None and hasattr(self.control, "close"):
            with contextlib.suppress(Exception):
                await resolve(self.control.close())
        if self._cache is not None:
            cache, self._cache = self._cache, None
            with contextlib.suppress(Exception):
                await resolve(cache.close())
        if self._redis is not None:
            redis, self._redis = self._redis, None
            with contextlib.suppress(Exception):
                await redis.aclose()
            with contextlib.suppress(Exception):
                await redis.connection_pool.disconnect(inuse_connections=True)
        if self._stack is not None:
            stack, self._stack = self._stack, None
            await stack.aclose()
        elif self._owns_client:
            await self.client.close()

    # -- health ---------------------------------------------------------------

    async def health(self) -> tuple[ServiceHealth, ...]:
        """Each service's state and probe latency; never raises."""
        if self._probe is not None:
            return await self._probe()
        results = await asyncio.gather(
            self._throttled("PostgreSQL", self._probe_postgres),
            self._throttled("Redis", self._probe_redis),
            self._probe_amqp(),
        )
        return tuple(self._track(h) for h in results)

    async def _throttled(
        self, name: str, probe: Callable[[], Awaitable[ServiceHealth]]
    ) -> ServiceHealth:
        """Probe a service that answered recently only every :data:`UP_PROBE_EVERY_S`.

        A service that is down is probed on every refresh, so its recovery shows
        at once; one that is up costs a round trip every few seconds instead of
        every second. (A read that fails in between marks PostgreSQL down anyway:
        see :meth:`mark_down`.)
        """
        last = self._last_health.get(name)
        now = time.monotonic()
        stamp = self._probed_at.get(name)
        if last is not None and last.up and stamp is not None and now - stamp < UP_PROBE_EVERY_S:
            return last
        self._probed_at[name] = now
        return await probe()

    def mark_down(self, name: str, reason: str) -> ServiceHealth:
        """Record that a read from ``name`` just failed (it is probed again next refresh)."""
        self._probed_at.pop(name, None)
        return self._track(ServiceHealth(name, False, None, reason))

    def status_cache(self) -> Any | None:
        """The engine's Redis status cache (``engine.status.cache.StatusCache``), if installed."""
        if self._cache is None and not self._closed:
            cache_cls = _optional("engine.status.cache", "StatusCache")
            if cache_cls is not None:
                self._cache = cache_cls(self.settings)
        return self._cache

    async def dashboard(self) -> DashboardParts | None:
        """The engine's dashboard snapshot in the console's types; None without that API.

        Health is probed separately (:meth:`health`), so this is skipped while
        PostgreSQL is down and the probes still run.
        """
        build = _optional("engine.readapi.dashboard", "dashboard") if self.use_dashboard else None
        if build is None:
            return None
        snapshot = await build(
            self.client.db, self.settings, cache=self.status_cache(), probe_services=False
        )
        return parts_from_dashboard(snapshot)

    def _track(self, health: ServiceHealth) -> ServiceHealth:
        """Stamp ``since`` with the time the service last changed between up and down."""
        last = self._last_health.get(health.name)
        since = last.since if last is not None and last.up == health.up else datetime.now(UTC)
        tracked = replace(health, since=since)
        self._last_health[health.name] = tracked
        return tracked

    async def _timed(self, name: str, probe: Awaitable[Any]) -> ServiceHealth:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(PROBE_TIMEOUT_S):
                await probe
        except TimeoutError:
            return ServiceHealth(name, False, None, f"no answer within {PROBE_TIMEOUT_S:g} s")
        except Exception as exc:  # any failure of a probe means "down", with the reason shown
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            return ServiceHealth(name, False, None, self.settings.redact(reason))
        return ServiceHealth(name, True, (time.perf_counter() - started) * 1000.0)

    async def _probe_postgres(self) -> ServiceHealth:
        return await self._timed("PostgreSQL", self.client.db.ping())

    async def _engine_probe(self, fn: Any, *args: Any) -> ServiceHealth:
        """One of ``engine.status.health``'s probes, renamed for the console."""
        view = await fn(*args, PROBE_TIMEOUT_S)
        return ServiceHealth(
            _SERVICE_NAMES.get(view.name, view.name), view.up, view.latency_ms, view.error
        )

    async def _probe_redis(self) -> ServiceHealth:
        if self._closed:
            return ServiceHealth("Redis", False, None, "console is closing")
        cache = self.status_cache()
        probe_redis = _optional("engine.status.health", "probe_redis")
        if cache is not None and probe_redis is not None:
            return await self._engine_probe(probe_redis, cache)
        if self._redis is None:
            import redis.asyncio as aioredis

            self._redis = aioredis.from_url(
                self.settings.redis_url,
                socket_connect_timeout=PROBE_TIMEOUT_S,
                socket_timeout=PROBE_TIMEOUT_S,
            )
        return await self._timed("Redis", self._redis.ping())

    async def _probe_amqp(self) -> ServiceHealth:
        """An AMQP handshake (the engine's probe) or a TCP connection, every few seconds.

        Each probe is a connection the broker logs, so it is rate-limited
        rather than made on every refresh.
        """
        now = time.monotonic()
        if self._amqp_last is not None and now - self._amqp_last[0] < AMQP_PROBE_EVERY_S:
            return self._amqp_last[1]
        parts = urlsplit(self.settings.amqp_url)
        host = parts.hostname or "127.0.0.1"
        port = parts.port or (5671 if parts.scheme == "amqps" else 5672)

        async def connect() -> None:
            _reader, writer = await asyncio.open_connection(host, port)
            try:
                writer.close()
            finally:
                with contextlib.suppress(Exception):
                    await writer.wait_closed()

        probe_rabbitmq = _optional("engine.status.health", "probe_rabbitmq")
        if probe_rabbitmq is not None:
            health = await self._engine_probe(probe_rabbitmq, self.settings)
        else:
            health = await self._timed("RabbitMQ", connect())
        self._amqp_last = (now, health)
        return health

    def masked_url(self, service: str) -> str:
        """The service's URL with any password masked, for the down banner."""
        url = {
            "PostgreSQL": self.settings.database_url,
            "Redis": self.settings.redis_url,
            "RabbitMQ": self.settings.amqp_url,
        }.get(service, "")
        return mask_url(url)

    # -- workers and scaling ----------------------------------------------------

    async def workers(self) -> WorkersView:
        """Every worker the supervisor (embedded) reports; empty when none does."""
        if self.supervisor is None:
            return WorkersView()
        snapshot = await resolve(self.supervisor.snapshot())
        return workers_from_snapshot(snapshot)

    @property
    def can_scale(self) -> bool:
        """Whether scale and recycle have somewhere to go."""
        return self.supervisor is not None or self.control is not None

    async def scale(self, queue: str, workers: int) -> None:
        """Ask for ``workers`` processes on ``queue`` (embedded supervisor or control bus)."""
        if self.runtime is not None and hasattr(self.runtime, "scale"):
            await resolve(self.runtime.scale(queue, workers))
        elif self.supervisor is not None:
            await resolve(self.supervisor.scale(queue, workers))
        elif self.control is not None:
            await self._publish({"cmd": "scale", "queue": queue, "workers": workers})
        else:
            raise UnavailableFeature("scaling needs the embedded engine or --attach to one")

    async def recycle(self, worker_id: str) -> None:
        """Replace one worker after its current job."""
        if self.runtime is not None and hasattr(self.runtime, "recycle"):
            # The engine recycles its own workers and asks the others' supervisors.
            await resolve(self.runtime.recycle(worker_id))
        elif self.supervisor is not None:
            await resolve(self.supervisor.recycle(worker_id))
        elif self.control is not None:
            await self._publish({"cmd": "recycle", "worker_id": worker_id})
        else:
            raise UnavailableFeature("recycling needs the embedded engine or --attach to one")

    async def _publish(self, command: Mapping[str, Any]) -> None:
        assert self.control is not None
        publish = getattr(self.control, "publish", None) or self.control.send
        await resolve(publish(dict(command)))

    # -- queues -------------------------------------------------------------------

    @property
    def can_pause(self) -> bool:
        """Whether the engine's client offers pause and resume."""
        return hasattr(self.client, "pause_queue") and hasattr(self.client, "resume_queue")

    async def pause(self, queue: str) -> None:
        """Stop workers from claiming from ``queue``."""
        if not self.can_pause:
            raise UnavailableFeature("this engine cannot pause queues yet")
        await resolve(self.client.pause_queue(queue))  # type: ignore[attr-defined]

    async def resume(self, queue: str) -> None:
        """Let workers claim from ``queue`` again."""
        if not self.can_pause:
            raise UnavailableFeature("this engine cannot resume queues yet")
        await resolve(self.client.resume_queue(queue))  # type: ignore[attr-defined]

    # -- failures -----------------------------------------------------------------

    async def failures(self, groups: FailuresView | None = None) -> FailuresView:
        """Failed jobs grouped by error, each group with its newest jobs.

        ``groups`` are the dashboard's groups (by the engine's fingerprint, over
        many more failures); the newest failed jobs are then attached to the
        group whose message they share. Without them, the groups are built here
        from the newest failed jobs.
        """
        page = await self.client.jobs(JobFilter(state=State.FAILED), limit=FAILED_SCANNED)
        if groups is not None:
            by_key: dict[str, list[Any]] = {}
            for job in page.items:
                by_key.setdefault(fingerprint(job.error_message), []).append(job)
            return replace(
                groups,
                groups=tuple(
                    replace(
                        g,
                        jobs=tuple(by_key.get(fingerprint(g.message), ())),
                        queues=g.queues
                        or tuple(sorted({j.queue for j in by_key.get(fingerprint(g.message), ())})),
                        job_ids=tuple(
                            dict.fromkeys(
                                [
                                    *g.job_ids,
                                    *(j.id for j in by_key.get(fingerprint(g.message), ())),
                                ]
                            )
                        ),
                    )
                    for g in groups.groups
                ),
            )
        groups: dict[str, list[Any]] = {}
        for job in page.items:
            groups.setdefault(fingerprint(job.error_message), []).append(job)
        built = [
            FailureGroup(
                key=key,
                error_type=None,
                message=jobs[0].error_message or "(no error message)",
                count=len(jobs),
                first_seen=min((j.finished_at for j in jobs if j.finished_at), default=None),
                last_seen=max((j.finished_at for j in jobs if j.finished_at), default=None),
                queues=tuple(sorted({j.queue for j in jobs})),
                job_ids=tuple(j.id for j in jobs),
                jobs=tuple(jobs),
            )
            for key, jobs in groups.items()
        ]
        built.sort(key=lambda g: (-g.count, g.key))
        return FailuresView(tuple(built), len(page.items), page.next_before is None)

    async def group_members(self, group: FailureGroup) -> tuple[int, ...]:
        """Every FAILED job of ``group`` (by error message), newest first.

        A keyset scan over the FAILED jobs (the partial state index), at most
        :data:`GROUP_SCAN_MAX` of them, so a retry of the group covers it whole
        and not only the jobs a page showed.
        """
        key = fingerprint(group.message)
        found: list[int] = []
        before: int | None = None
        scanned = 0
        while scanned < GROUP_SCAN_MAX:
            page = await self.client.jobs(
                JobFilter(state=State.FAILED), limit=GROUP_SCAN_PAGE, before=before
            )
            scanned += len(page.items)
            found.extend(j.id for j in page.items if fingerprint(j.error_message) == key)
            if page.next_before is None:
                break
            before = page.next_before
        return tuple(found)


_VARYING_RE = re.compile(r"0x[0-9a-fA-F]+|\d+")


def fingerprint(message: str | None) -> str:
    """A grouping key for an error message: numbers and addresses do not split groups."""
    if not message:
        return "(no error message)"
    first = message.strip().splitlines()[0] if message.strip() else message
    return _VARYING_RE.sub("#", first)[:200]


def _field(obj: Any, *names: str, default: Any = None) -> Any:
    """The first of ``names`` present on ``obj`` (attribute or mapping key)."""
    for name in names:
        if isinstance(obj, Mapping):
            if name in obj:
                return obj[name]
        elif hasattr(obj, name):
            return getattr(obj, name)
    return default


def workers_from_snapshot(snapshot: Any) -> WorkersView:
    """The console's :class:`WorkersView` from a supervisor snapshot (attributes or keys)."""
    rows = []
    for w in _field(snapshot, "workers", default=()) or ():
        queues = _field(w, "queues", default=None)
        if queues is None:
            queue = _field(w, "queue", default=None)
            queues = (queue,) if queue else ()
        rss = _field(w, "rss_bytes", default=None)
        if rss is None and _field(w, "memory_mb", default=None) is not None:
            rss = int(_field(w, "memory_mb") * 1024 * 1024)
        rows.append(
            WorkerRow(
                id=str(_field(w, "id", "worker_id")),
                host=str(_field(w, "host", default="") or _field(snapshot, "host", default="")),
                pid=_field(w, "pid", default=None),
                queues=tuple(queues),
                state=str(_field(w, "state", default="?")),
                current_job_id=_field(w, "current_job_id", "current_job", default=None),
                heartbeat_at=_field(w, "heartbeat_at", default=None),
                rss_bytes=rss,
                cpu_percent=_field(w, "cpu_percent", default=None),
                max_memory_mb=_field(w, "max_memory_mb", default=None),
                jobs_done=int(_field(w, "jobs_done", default=0) or 0),
                jobs_failed=int(_field(w, "jobs_failed", default=0) or 0),
                local=bool(_field(w, "local", default=True)),
            )
        )
    targets = _field(snapshot, "per_queue", "targets", "desired", default=None)
    if targets is None:
        counted: dict[str, int] = {}
        for row in rows:
            for q in row.queues:
                counted[q] = counted.get(q, 0) + 1
        targets = counted
    per_queue = tuple(sorted((str(q), int(n)) for q, n in _items(targets)))
    used = _field(snapshot, "used_mb", "memory_reserved_mb", default=None)
    if used is None and rows:
        used = sum((r.rss_bytes or 0) for r in rows) / (1024 * 1024)
    return WorkersView(
        workers=tuple(sorted(rows, key=lambda r: r.id)),
        per_queue=per_queue,
        budget_mb=_field(snapshot, "budget_mb", "memory_budget_mb", default=None),
        used_mb=used,
        available=True,
    )


def parts_from_dashboard(d: Any) -> DashboardParts:
    """The console's types from an ``engine.readapi.views.Dashboard``."""
    queues: tuple[QueueRow, ...] = ()
    if d.queues.available:
        rows = []
        for q in d.queues.queues:
            c = dict(q.counts)
            rows.append(
                QueueRow(
                    name=q.name,
                    paused=q.paused,
                    ready=q.broker_ready if q.broker_ready is not None else c.get(State.QUEUED, 0),
                    unacked=q.broker_unacked,
                    running=c.get(State.RUNNING, 0),
                    retrying=c.get(State.RETRYING, 0),
                    pending=c.get(State.PENDING, 0),
                    blocked=c.get(State.BLOCKED, 0),
                    failed=c.get(State.FAILED, 0),
                    completed=c.get(State.COMPLETED, 0),
                    cancelled=c.get(State.CANCELLED, 0),
                    workers=q.consumers,
                )
            )
        queues = tuple(rows)
    workers = None
    if d.workers.available:
        workers = WorkersView(
            workers=tuple(
                WorkerRow(
                    id=w.id,
                    host=w.host,
                    pid=w.pid,
                    queues=tuple(w.queues),
                    state=w.state,
                    current_job_id=w.current_job_id,
                    heartbeat_at=None,
                    rss_bytes=w.rss_bytes,
                    cpu_percent=w.cpu_percent,
                    max_memory_mb=w.max_memory_mb,
                    jobs_done=w.jobs_done,
                    jobs_failed=w.jobs_failed,
                    local=False,
                    memory=tuple(m.rss_bytes for m in w.memory_history),
                    heartbeat_age_s=w.heartbeat_age_s,
                )
                for w in d.workers.workers
                if w.stopped_at is None
            ),
            available=True,
        )
    throughput = failures_rate = None
    if d.throughput.available and d.throughput.per_second:
        points = d.throughput.per_second
        throughput = Series("throughput /s", tuple(float(p.completed) for p in points))
        failures_rate = Series("failures /s", tuple(float(p.failed) for p in points))
    failures = None
    if d.failures.available:
        failures = FailuresView(
            groups=tuple(
                FailureGroup(
                    key=g.fingerprint,
                    error_type=g.error_type,
                    message=g.sample_message or "(no error message)",
                    count=g.count,
                    first_seen=g.first_seen,
                    last_seen=g.last_seen,
                    queues=(),
                    job_ids=tuple(g.job_ids),
                )
                for g in d.failures.groups
            ),
            scanned=d.failures.scanned,
            complete=not d.failures.truncated,
        )
    return DashboardParts(queues, workers, throughput, failures_rate, failures)


def merge_workers(reported: WorkersView | None, supervised: WorkersView) -> WorkersView:
    """Workers the dashboard reports (any host) with the local supervisor's targets, budget."""
    if reported is None:
        return supervised
    local = {w.id: w for w in supervised.workers}
    rows = tuple(replace(w, local=w.id in local) for w in reported.workers)
    seen = {w.id for w in rows}
    rows += tuple(w for w in supervised.workers if w.id not in seen)
    used = supervised.used_mb
    if used is None and rows:
        used = sum((w.rss_bytes or 0) for w in rows) / (1024 * 1024)
    per_queue = supervised.per_queue
    if not per_queue:
        counted: dict[str, int] = {}
        for w in rows:
            for q in w.queues:
                counted[q] = counted.get(q, 0) + 1
        per_queue = tuple(sorted(counted.items()))
    return WorkersView(
        workers=tuple(sorted(rows, key=lambda r: r.id)),
        per_queue=per_queue,
        budget_mb=supervised.budget_mb,
        used_mb=used,
        available=True,
    )


def _items(value: Any) -> Iterable[tuple[Any, Any]]:
    if isinstance(value, Mapping):
        return value.items()
    return list(value)


async def _open_client(settings: Settings, stack: contextlib.AsyncExitStack) -> Client:
    """A client whose hooks publish and cache when the runtime's wiring exists.

    The wiring's ``open_client`` is a context manager; ``stack`` holds it open
    until the backend stops.
    """
    opener = _optional("engine.runtime.wiring", "open_client")
    if opener is None:
        return Client(settings)
    opened = opener(settings)
    if hasattr(opened, "__aenter__"):
        return await stack.enter_async_context(opened)
    return await resolve(opened)


async def ensure_services(settings: Settings, state_dir: Path) -> tuple[Settings, Any]:
    """Settings pointing at reachable services, starting private ones if needed.

    Returns the settings to use and a handle whose ``stop()`` (if any) ends the
    private instances. Without ``localservices`` the configured services
    are used as they are.
    """
    ensure = _optional("localservices", "ensure_services")
    if ensure is None:
        return settings, None
    # It blocks (a private RabbitMQ takes seconds to boot): keep the loop free.
    result = await resolve(await asyncio.to_thread(ensure, settings, state_dir))
    new_settings = _field(result, "settings", default=None)
    if isinstance(result, tuple):
        return result[0], result[1] if len(result) > 1 else None
    if isinstance(new_settings, Settings):
        return new_settings, result
    if isinstance(result, Settings):
        return result, None
    return settings, result


async def stop_services(handle: Any) -> None:
    """Stop private service instances started by :func:`ensure_services`."""
    if handle is None:
        return
    for name in ("stop", "close", "aclose"):
        fn = getattr(handle, name, None)
        if fn is not None:
            await resolve(fn())
            return


__all__ = [
    "SERVICES",
    "Backend",
    "ServiceUnavailable",
    "SupervisorLike",
    "UnavailableFeature",
    "dag_view_class",
    "ensure_services",
    "fingerprint",
    "stop_services",
    "workers_from_snapshot",
]
