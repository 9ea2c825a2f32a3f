"""The engine as one object: services plus a supervisor, embedded or headless.

``queueconsole engine`` runs it headless; the console embeds it. Several
engines may run against one installation (on several machines): every
service is safe to run more than once at the same time (SKIP LOCKED,
attempt-fenced updates), so there is no leader to elect.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from engine.broker.control import ControlBus
from engine.broker.depth import queue_depths
from engine.broker.topology import check_queue_type
from engine.client import Client
from engine.config import Settings
from engine.db.connection import DatabaseHandle
from engine.db.database import Database
from engine.db.driver import DriverDatabase
from engine.errors import EngineError, ServiceUnavailable
from engine.hooks import AfterCommit
from engine.maintenance.base import PeriodicService, ServiceGroup
from engine.maintenance.count_reconciler import CountReconciler
from engine.maintenance.dead_letters import DeadLetterService
from engine.maintenance.dispatch_reconciler import RECONCILE_AFTER_S, DispatchReconciler
from engine.maintenance.expiry import ExpiryService
from engine.maintenance.rescuer import (
    RESCUER_HEARTBEAT_TIMEOUT_S,
    RESCUER_TIMEOUT_GRACE_S,
    Rescuer,
)
from engine.maintenance.retention import RetentionService
from engine.maintenance.retries import RetryScheduler
from engine.maintenance.rollup import MinuteRollup
from engine.maintenance.scheduler import ScheduleService
from engine.maintenance.tenant_ledger import TenantLedger
from engine.maintenance.tenant_release import TenantRelease
from engine.runtime.budgets import BUDGET_COMMAND, EngineBudget, budget_answer
from engine.runtime.scaling import SCALE_COMMAND, ScaleAnswer, answer_message
from engine.runtime.supervisor import Supervisor
from engine.runtime.wiring import close_hooks, make_hooks
from engine.status.cache import StatusCache
from engine.worker.options import DEFAULT_PREFETCH

log = logging.getLogger(__name__)

SERVICES_POOL_SIZE = 3
"""Connections the maintenance services keep (as many again while busy): seven services,
each one short statement or transaction at a time."""


@dataclass(frozen=True, slots=True)
class EngineOptions:
    """How an engine runs (the ``queueconsole engine`` flags)."""

    workers: Mapping[str, int]
    """Worker processes per queue; empty runs the services without local workers."""
    memory_budget_mb: int | None = None
    worker_max_memory_mb: int | None = None
    worker_cpus: float | None = None
    """Cores each worker offers its jobs' ``cpu`` requests (None: the cores it may use)."""
    prefetch: int = DEFAULT_PREFETCH
    concurrency: int = 1
    reconcile_after_s: float = RECONCILE_AFTER_S
    heartbeat_timeout_s: float = RESCUER_HEARTBEAT_TIMEOUT_S
    timeout_grace_s: float = RESCUER_TIMEOUT_GRACE_S
    grace_s: float = 30.0


class Engine:
    """Start with :meth:`start`, stop with :meth:`stop` (drains the workers)."""

    def __init__(self, settings: Settings, options: EngineOptions) -> None:
        self.settings = settings
        self.options = options
        # The console's reads go through the client on SQLAlchemy's engine (made at first
        # use); the services, which a headless engine runs alone, on asyncpg's own pool.
        self.db = Database(settings, pool_size=4, application_name="queueconsole-engine")
        self.services_db = DriverDatabase(
            settings, pool_size=SERVICES_POOL_SIZE, application_name="queueconsole-engine"
        )
        self.hooks: list[AfterCommit] = make_hooks(settings)
        self.client = Client(settings, database=self.db, hooks=self.hooks)
        self.supervisor = Supervisor(
            settings,
            options.workers,
            memory_budget_mb=options.memory_budget_mb,
            worker_max_memory_mb=options.worker_max_memory_mb,
            worker_cpus=options.worker_cpus,
            prefetch=options.prefetch,
            concurrency=options.concurrency,
            grace_s=options.grace_s,
        )
        self.services: list[PeriodicService] = maintenance_services(
            settings, options, self.services_db, self.hooks, retention_db=self.db
        )
        self._group = ServiceGroup(self.services)
        self._control = ControlBus(settings)
        self._started = False

    async def start(self) -> None:
        """Start services, subscribe to scale commands, start local workers.

        Calling it again once started does nothing; if it fails part way, what
        it had started is stopped again, so a caller may simply retry.
        """
        if self._started:
            return
        try:
            await check_queue_type(self.settings, self.options.workers)
        except ServiceUnavailable as exc:  # workers wait for the broker; a mismatch stops us
            log.warning("queue types not checked, the broker is unavailable: %s", exc)
        self._group.start()
        try:
            try:
                await self._control.subscribe(self._on_control)
            except EngineError as exc:
                log.warning("control exchange unavailable, scale commands will not arrive: %s", exc)
            await self.supervisor.start()
        except BaseException:
            await self._group.stop()
            with contextlib.suppress(Exception):
                await self._control.close()
            raise
        self._started = True

    async def stop(self, grace_s: float | None = None) -> None:
        """Drain workers, stop services, close connections. Loses nothing."""
        await self.supervisor.stop(grace_s)
        await self._group.stop()
        for service in self.services:
            close = getattr(service, "close", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    await close()
        with contextlib.suppress(Exception):
            await self._control.close()
        await close_hooks(self.hooks)
        await self.services_db.close()
        await self.db.close()

    async def scale(
        self, queue: str, workers: int, *, everywhere: bool = False, host: str | None = None
    ) -> None:
        """Scale this engine's pool of ``queue``; ``everywhere`` tells every supervisor;
        ``host`` (another host than this one's) tells only the engines on that host."""
        if everywhere:
            await self._control.publish({"cmd": "scale", "queue": queue, "workers": workers})
        elif host is not None and host != self.supervisor.host:
            await self._control.publish(
                {"cmd": "scale", "queue": queue, "workers": workers, "host": host}
            )
        else:
            await self.supervisor.scale(queue, workers)

    async def recycle(self, worker_id: str) -> None:
        """Replace a worker, local or remote (it drains, then a fresh one starts)."""
        if not await self.supervisor.recycle(worker_id):
            await self._control.publish({"cmd": "recycle", "worker_id": worker_id})

    async def _on_control(self, command: dict[str, Any]) -> None:
        if command.get("cmd") == BUDGET_COMMAND:
            await self._answer_budget(command.get("request_id"))
            return
        if command.get("cmd") != SCALE_COMMAND:
            return
        host = command.get("host")
        if host is not None and host != self.supervisor.host:
            return  # meant for the engines of another host; they answer
        queue, workers = command.get("queue"), command.get("workers")
        request_id = command.get("request_id")
        if not isinstance(queue, str) or isinstance(workers, bool) or not isinstance(workers, int):
            log.warning("ignored a malformed scale command: %r", command)
            await self._answer(request_id, False, 0, "malformed scale command")
            return
        try:
            target = await self.supervisor.scale(queue, workers)
        except EngineError as exc:
            log.warning("scale %s to %d refused: %s", queue, workers, exc)
            await self._answer(request_id, False, self.supervisor.targets.get(queue, 0), str(exc))
        else:
            await self._answer(request_id, True, target, None)

    async def _answer_budget(self, request_id: Any) -> None:
        """Tell an attached console this engine's memory budget and what it reserves."""
        if not isinstance(request_id, str) or not request_id:
            return
        budget = EngineBudget.of(self.supervisor.snapshot())
        try:
            await self._control.publish(budget_answer(request_id, budget))
        except EngineError as exc:
            log.warning("could not answer budget request %s: %s", request_id[:64], exc)

    async def _answer(self, request_id: Any, ok: bool, workers: int, reason: str | None) -> None:
        """Tell whoever asked (a request with an id) what this engine did with it."""
        if not isinstance(request_id, str) or not request_id:
            return  # an older requester that does not listen for answers
        answer = ScaleAnswer(self.supervisor.id, self.supervisor.host, ok, workers, reason)
        try:
            await self._control.publish(answer_message(request_id[:64], answer))
        except EngineError as exc:
            log.warning("could not answer scale request %s: %s", request_id[:64], exc)


def maintenance_services(
    settings: Settings,
    options: EngineOptions,
    db: DatabaseHandle,
    hooks: Sequence[AfterCommit],
    *,
    retention_db: Database,
) -> list[PeriodicService]:
    """Every background service an engine runs, in start order.

    Retention is left out while ``retention_age`` is unset (it would only rest); it runs
    on ``retention_db``, SQLAlchemy's engine, which its batches' row counts need. The
    count reconciler shares the status cache among ``hooks`` when there is one.
    """

    async def broker_ready(queues: Sequence[str]) -> dict[str, int | None]:
        try:
            depths = await queue_depths(settings, queues)
        except EngineError:
            return {}
        return {q: d.ready for q, d in depths.items()}

    cache = next((h for h in hooks if isinstance(h, StatusCache)), None)
    services: list[PeriodicService] = [
        RetryScheduler(db, hooks),
        DispatchReconciler(db, hooks, broker_ready, after_s=options.reconcile_after_s),
        Rescuer(
            db,
            hooks,
            heartbeat_timeout_s=options.heartbeat_timeout_s,
            timeout_grace_s=options.timeout_grace_s,
        ),
        CountReconciler(settings, db, cache=cache),
        ScheduleService(settings, db, hooks),
        ExpiryService(settings, db, hooks),
        DeadLetterService(settings, db, hooks),
        MinuteRollup(db),
        TenantRelease(db, hooks),
        TenantLedger(db),
    ]
    retention = RetentionService(settings, retention_db, hooks)
    if retention.enabled:
        services.append(retention)
    return services


async def run_headless(settings: Settings, options: EngineOptions, stop: asyncio.Event) -> None:
    """Run an engine until ``stop`` is set, then drain."""
    engine = Engine(settings, options)
    await engine.start()
    try:
        await stop.wait()
    finally:
        await engine.stop()
