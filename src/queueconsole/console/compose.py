"""The console's view model, composed from the engine's snapshots.

The engine hands out :mod:`engine.snapshots` (the dashboard, a supervisor's
snapshot); the panes draw :mod:`queueconsole.console.model`. The functions
here are the only translation between the two: rows per queue, chart series,
and one list of workers that marks which ones this console's engine runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from engine.snapshots import Dashboard, SupervisorSnapshot, Worker
from engine.states import State
from queueconsole.console.model import DashboardParts, FailuresView, QueueRow, Series, WorkersView

BYTES_PER_MB = 1024 * 1024


def supervised_workers(snapshot: SupervisorSnapshot) -> WorkersView:
    """The Workers pane's view of one supervisor: its processes, targets and budget."""
    workers = tuple(sorted(snapshot.workers, key=lambda w: w.id))
    return WorkersView(
        workers=workers,
        per_queue=tuple(sorted((str(q), int(n)) for q, n in snapshot.targets.items())),
        budget_mb=snapshot.memory_budget_mb,
        reserved_mb=snapshot.memory_reserved_mb,
        resident_mb=_resident_mb(workers),
        budget_known=True,
        available=True,
    )


def parts_from_dashboard(d: Dashboard) -> DashboardParts:
    """What the engine's dashboard adds to a refresh, in the console's types."""
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
            workers=tuple(w for w in d.workers.workers if w.live),
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
            groups=d.failures.groups,
            scanned=d.failures.scanned,
            complete=not d.failures.truncated,
        )
    tenants = d.tenants.tenants if d.tenants.available else ()
    return DashboardParts(queues, workers, throughput, failures_rate, failures, tenants)


def merge_workers(reported: WorkersView | None, supervised: WorkersView) -> WorkersView:
    """Workers the dashboard reports (any host) with the local supervisor's targets, budget."""
    if reported is None:
        return supervised
    local = {w.id for w in supervised.workers}
    rows = tuple(replace(w, local=w.id in local) for w in reported.workers)
    seen = {w.id for w in rows}
    rows += tuple(w for w in supervised.workers if w.id not in seen)
    per_queue = supervised.per_queue or _counted(rows)
    return WorkersView(
        workers=tuple(sorted(rows, key=lambda r: r.id)),
        per_queue=per_queue,
        budget_mb=supervised.budget_mb,
        reserved_mb=supervised.reserved_mb,
        resident_mb=_resident_mb(rows),
        budget_known=supervised.budget_known,
        available=True,
    )


def _resident_mb(workers: Iterable[Worker]) -> float | None:
    """Resident memory the workers measured, summed; None when none of them says."""
    measured = [w.rss_bytes for w in workers if w.rss_bytes is not None]
    return sum(measured) / BYTES_PER_MB if measured else None


def _counted(workers: Iterable[Worker]) -> tuple[tuple[str, int], ...]:
    """Workers per queue, when no supervisor says how many it was asked for."""
    counted: dict[str, int] = {}
    for w in workers:
        for q in w.queues:
            counted[q] = counted.get(q, 0) + 1
    return tuple(sorted(counted.items()))
