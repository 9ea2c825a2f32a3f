"""The dashboard: every section of the overview, taken at one moment.

Each section says whether it could be built (``available``) and from where
(``source``), so a view can show "Redis down, counts from PostgreSQL" instead
of failing whole. The ``to_json`` methods define ``queueconsole status --json``:
fields are added, never renamed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.snapshots.common import SOURCE_POSTGRESQL, iso, rounded
from engine.snapshots.events import EventsSection
from engine.snapshots.failures import FailuresSection
from engine.snapshots.health import ServiceHealth
from engine.snapshots.queues import QueuesSection
from engine.snapshots.replica import ReadReplicaStatus
from engine.snapshots.tenants import TenantsSection
from engine.snapshots.throughput import LatencySection, ThroughputSection
from engine.snapshots.workers import Worker, WorkersSection


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
    tenants: TenantsSection = field(default=TenantsSection(False))
    """Per-tenant load (waiting, running/limit, done, failed)."""
    db_ms: float = 0.0
    """Time spent waiting on PostgreSQL while building this snapshot (summed per query)."""
    timings_ms: tuple[tuple[str, float], ...] = field(default=())
    """Wall time of each section, for the curious and the benchmark."""
    read_replica: ReadReplicaStatus | None = None
    """Where the reads went and the replica's lag; None without ``read_database_url``."""

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
            "hosts": hosts_json(self.workers.workers),
            "services": {s.name: s.to_json() for s in self.services},
            "tenants": [t.to_json() for t in self.tenants.tenants],
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
            "read_replica": None if self.read_replica is None else self.read_replica.to_json(),
            "throughput": {
                "completed": tp.completed,
                "failed": tp.failed,
                "failure_rate": tp.failure_rate,
                "per_second": [[iso(p.start), p.completed, p.failed] for p in tp.per_second],
                "per_minute": [[iso(p.start), p.completed, p.failed] for p in tp.per_minute],
            },
            "latency": {
                "window_s": lat.window_s,
                "sample": lat.sample,
                "wait_p50_ms": rounded(lat.wait_p50_ms),
                "wait_p95_ms": rounded(lat.wait_p95_ms),
                "run_p50_ms": rounded(lat.run_p50_ms),
                "run_p95_ms": rounded(lat.run_p95_ms),
                "by_type": {
                    t.type: {
                        "finished": t.finished,
                        "wait_p50_ms": rounded(t.wait_p50_ms),
                        "wait_p95_ms": rounded(t.wait_p95_ms),
                        "run_p50_ms": rounded(t.run_p50_ms),
                        "run_p95_ms": rounded(t.run_p95_ms),
                    }
                    for t in lat.by_type
                },
            },
            "events": [e.to_json() for e in self.events.events],
            "failures": [g.to_json() for g in self.failures.groups],
        }


def hosts_json(workers: tuple[Worker, ...]) -> dict[str, dict[str, int]]:
    """``hosts`` in ``status --json``: live workers per host and queue, so a ``scale --host``
    shows where it landed without reading every worker."""
    hosts: dict[str, dict[str, int]] = {}
    for worker in workers:
        if not worker.live:
            continue
        per_queue = hosts.setdefault(worker.host, {})
        for queue in worker.queues:
            per_queue[queue] = per_queue.get(queue, 0) + 1
    return {host: dict(sorted(q.items())) for host, q in sorted(hosts.items())}
