"""What ``/metrics`` (Prometheus text) and ``/healthz`` answer, without the HTTP.

The engine keeps no web framework: the HTTP API (``queueconsole api``, or
``queueconsole engine --api-port``) serves these two routes from a
:class:`MetricsExporter` it holds. ``/metrics`` is built on each scrape from the read
API (counts per queue and state, broker depth, workers) plus counters and
histograms fed by the status event channel (``{ns}:events``), which every
engine and worker process publishes to, so one endpoint sees the whole
installation. ``/healthz`` pings PostgreSQL, RabbitMQ and Redis (no table is
read) and answers 200 or 503 with a small JSON body.

Counters count what this server saw since it started (Prometheus handles
restarts); events published while Redis was down are not seen, but the
``queueconsole_jobs`` gauge comes from PostgreSQL's counts and is exact.

When several processes serve one port (``queueconsole api --workers N``), a
scrape lands on any of them, so they must all answer the same counters: one
process counts (``count_events``), the others only read its figures through
prometheus_client's multiprocess files (``PROMETHEUS_MULTIPROC_DIR``, which the
group's parent sets before any metric exists). Counting in every process and
summing would multiply the figures; counting in each and answering its own
would make the counters jump back and forth between scrapes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from engine.config import Settings
from engine.db.database import Database
from engine.readapi.dashboard import BrokerDepths, queues, tenant_loads, workers
from engine.snapshots import QueuesSection, ServiceHealth, WorkersSection
from engine.snapshots.tenants import TenantsSection
from engine.states import State
from engine.status import events as codec
from engine.status.cache import StatusCache
from engine.status.health import probe_postgres, probe_rabbitmq, probe_redis
from engine.status.pubsub import close_pubsub

log = logging.getLogger(__name__)

CONTENT_TYPE = CONTENT_TYPE_LATEST
"""The ``/metrics`` response's content type (Prometheus text format)."""

HEALTH_TIMEOUT_S = 1.0  # seconds each /healthz probe may take; load balancers want an answer
SUBSCRIBE_RETRY_S = 2.0  # seconds between attempts to (re)subscribe to the event channel
WAIT_BUCKETS = (0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600)  # seconds
RUN_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)  # seconds
MULTIPROCESS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client's own variable


def multiprocess_dir() -> str | None:
    """The directory processes serving one port share their counters through, if any."""
    return os.environ.get(MULTIPROCESS_DIR_ENV) or None


class _Snapshot(Collector):
    """Gauges from the last read-API snapshot, exposed when the registry is collected."""

    def __init__(self) -> None:
        self.queues: QueuesSection | None = None
        self.workers: WorkersSection | None = None
        self.tenants: TenantsSection | None = None

    def collect(self) -> Iterator[Metric]:
        jobs = GaugeMetricFamily(
            "queueconsole_jobs",
            "Jobs per queue and state (PostgreSQL counts).",
            labels=["queue", "state"],
        )
        depth = GaugeMetricFamily(
            "queueconsole_queue_depth", "Jobs waiting to run (QUEUED) per queue.", labels=["queue"]
        )
        ready = GaugeMetricFamily(
            "queueconsole_broker_ready_messages", "Messages ready in RabbitMQ.", labels=["queue"]
        )
        unacked = GaugeMetricFamily(
            "queueconsole_broker_unacked_messages",
            "Messages delivered and not yet acknowledged.",
            labels=["queue"],
        )
        paused = GaugeMetricFamily("queueconsole_queue_paused", "1 if paused.", labels=["queue"])
        if self.queues is not None and self.queues.available:
            for q in self.queues.queues:
                for s, n in q.counts:
                    jobs.add_metric([q.name, s.value], n)
                depth.add_metric([q.name], q.count(State.QUEUED))
                paused.add_metric([q.name], 1 if q.paused else 0)
                if q.broker_ready is not None:
                    ready.add_metric([q.name], q.broker_ready)
                if q.broker_unacked is not None:
                    unacked.add_metric([q.name], q.broker_unacked)
        yield from (jobs, depth, ready, unacked, paused)

        rss = GaugeMetricFamily(
            "queueconsole_worker_rss_bytes",
            "Resident memory of each worker.",
            labels=["worker", "host"],
        )
        age = GaugeMetricFamily(
            "queueconsole_worker_heartbeat_age_seconds",
            "Seconds since each worker's last heartbeat.",
            labels=["worker", "host"],
        )
        count = GaugeMetricFamily(
            "queueconsole_workers", "Live workers by state.", labels=["state"]
        )
        if self.workers is not None and self.workers.available:
            by_state: dict[str, int] = {}
            for w in self.workers.workers:
                if not w.live:
                    continue
                by_state[w.state] = by_state.get(w.state, 0) + 1
                if w.rss_bytes is not None:
                    rss.add_metric([w.id, w.host], w.rss_bytes)
                if w.heartbeat_age_s is not None:
                    age.add_metric([w.id, w.host], w.heartbeat_age_s)
            for state, n in sorted(by_state.items()):
                count.add_metric([state], n)
        yield from (rss, age, count)

        # One label value per tenant an operator added, at most TENANTS_SHOWN of them and
        # "(other)" for the rest: the label's cardinality is bounded by design.
        tenant_jobs = GaugeMetricFamily(
            "queueconsole_tenant_jobs",
            "Live jobs per tenant: waiting (pending, queued, retrying, blocked) or running.",
            labels=["tenant", "state"],
        )
        tenant_limit = GaugeMetricFamily(
            "queueconsole_tenant_running_limit",
            "A tenant's max-running (tenants without one are absent).",
            labels=["tenant"],
        )
        if self.tenants is not None and self.tenants.available:
            for t in self.tenants.tenants:
                tenant_jobs.add_metric([t.name, "waiting"], t.waiting)
                tenant_jobs.add_metric([t.name, "running"], t.running)
                if t.max_running is not None:
                    tenant_limit.add_metric([t.name], t.max_running)
        yield from (tenant_jobs, tenant_limit)


class MetricsExporter:
    """The registry, collectors and probes behind ``/metrics`` and ``/healthz``.

    Args:
        settings: the installation to report on.
        db: share the engine's database pool; by default the server opens its own.
        cache: share the engine's status cache; by default the server opens its own.
        broker_depths: how to ask the broker for queue depths (see
            :func:`engine.readapi.dashboard.queues`).
        require_redis: whether ``/healthz`` fails while Redis is down. Off by
            default: the engine runs every job correctly without Redis (it is a
            cache), so a health check should not restart a healthy engine for it.
        count_events: follow the event channel into the counters and histograms. Off
            in all but one of the processes sharing a port (see the module's notes).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        db: Database | None = None,
        cache: StatusCache | None = None,
        broker_depths: BrokerDepths | None = None,
        require_redis: bool = False,
        count_events: bool = True,
    ) -> None:
        self.settings = settings
        self.require_redis = require_redis
        self.count_events = count_events
        self.broker_depths = broker_depths
        self._owns_db = db is None
        self._owns_cache = cache is None
        self.db = (
            db
            if db is not None
            else Database(settings, pool_size=2, application_name="queueconsole-metrics")
        )
        self.cache = cache if cache is not None else StatusCache(settings)
        self.registry = CollectorRegistry(auto_describe=True)
        """What a scrape answers: the snapshot's gauges and the counters."""
        self._snapshot = _Snapshot()
        self.registry.register(self._snapshot)
        shared = multiprocess_dir()
        # Shared: the counters below write to the files, and a scrape reads every
        # process's files (only the counting process has any).
        counters: CollectorRegistry | None = self.registry
        if shared is not None:
            multiprocess.MultiProcessCollector(self.registry, path=shared)  # type: ignore[no-untyped-call]
            counters = None
        self.completed = Counter(
            "queueconsole_jobs_completed",
            "Runs that completed, seen on the event channel since this server started.",
            ["queue", "type"],
            registry=counters,
        )
        self.failed = Counter(
            "queueconsole_job_runs_failed",
            "Runs that ended in an error (to retrying or failed), seen since this server started.",
            ["queue", "type"],
            registry=counters,
        )
        self.wait_seconds = Histogram(
            "queueconsole_job_wait_seconds",
            "Time from queued to started, per queue.",
            ["queue"],
            buckets=WAIT_BUCKETS,
            registry=counters,
        )
        self.run_seconds = Histogram(
            "queueconsole_job_run_seconds",
            "Time from started to finished, per job type.",
            ["type"],
            buckets=RUN_BUCKETS,
            registry=counters,
        )
        self.subscribed = asyncio.Event()
        """Set while the event channel is subscribed (tests wait for it)."""
        self._listener: asyncio.Task[None] | None = None
        self._scrape_lock = asyncio.Lock()

    async def start(self) -> None:
        """Subscribe to the event channel (the counters and histograms count from now)."""
        if not self.count_events:
            return
        self._listener = asyncio.create_task(self._listen(), name="metrics:events")

    async def stop(self) -> None:
        """Unsubscribe, and close what this exporter opened."""
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
        if self._owns_cache:
            await self.cache.close()
        if self._owns_db:
            await self.db.close()

    # -- event channel ------------------------------------------------------------

    def observe(self, message: str | bytes) -> None:
        """Count one pub/sub message's events into the counters and histograms."""
        for e in codec.loads(message):
            if e.wait_ms is not None and e.to_state is State.RUNNING:
                self.wait_seconds.labels(e.queue).observe(e.wait_ms / 1000.0)
            if e.from_state is not State.RUNNING:
                continue
            if e.to_state is State.COMPLETED:
                self.completed.labels(e.queue, e.type).inc()
            elif e.to_state in (State.RETRYING, State.FAILED):
                self.failed.labels(e.queue, e.type).inc()
            else:
                continue
            if e.run_ms is not None:
                self.run_seconds.labels(e.type).observe(e.run_ms / 1000.0)

    async def _listen(self) -> None:
        channel = self.cache.keys.events_channel
        while True:
            pubsub = self.cache.pubsub()
            try:
                await pubsub.subscribe(channel)
                self.subscribed.set()
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None and message.get("type") == "message":
                        self.observe(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis down: counters pause, the endpoint keeps serving
                log.debug("metrics: event channel lost: %s", exc)
            finally:
                self.subscribed.clear()
                await close_pubsub(pubsub)
            await asyncio.sleep(SUBSCRIBE_RETRY_S)

    # -- what the HTTP routes serve -------------------------------------------------

    async def metrics_text(self) -> bytes:
        """The ``/metrics`` body, built from a fresh snapshot."""
        async with self._scrape_lock:
            q, w, t = await asyncio.gather(
                queues(self.db, self.settings, cache=self.cache, broker_depths=self.broker_depths),
                workers(self.db, cache=self.cache),
                tenant_loads(self.db),
            )
            self._snapshot.queues, self._snapshot.workers = q, w
            self._snapshot.tenants = t
            return generate_latest(self.registry)

    async def health(self) -> tuple[int, dict[str, Any]]:
        """HTTP status and JSON body of ``/healthz``."""
        pg, mq, rd = await asyncio.gather(
            probe_postgres(self.db, HEALTH_TIMEOUT_S),
            probe_rabbitmq(self.settings, HEALTH_TIMEOUT_S),
            probe_redis(self.cache, HEALTH_TIMEOUT_S),
        )
        required: list[ServiceHealth] = [pg, mq, *([rd] if self.require_redis else [])]
        healthy = all(s.up for s in required)
        body = {
            "status": "ok" if healthy else "unavailable",
            "services": {
                s.name: {
                    "up": s.up,
                    "latency_ms": None if s.latency_ms is None else round(s.latency_ms, 2),
                    **({"error": s.error} if s.error else {}),
                }
                for s in (pg, mq, rd)
            },
        }
        return (200 if healthy else 503), body
