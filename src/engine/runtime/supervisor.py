"""Supervisor: owns local worker processes.

It starts N workers per queue, restarts one that exits unexpectedly (with a
back-off so a crash loop does not spin), replaces one that asked to be
replaced at once (recycled, over its memory limit, a stuck handler), scales
pools up and down — scale-down drains with SIGTERM, never kills work — and
keeps the total within a memory budget counted as ``max_memory_mb`` per
worker. Supervisors on other machines obey the same ``scale`` commands from
the control exchange.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from engine.config import Settings, to_environ
from engine.errors import UserError
from engine.queues.info import check_queue_name
from engine.snapshots import SupervisorSnapshot, Worker, epoch_to_datetime
from engine.worker.options import DEFAULT_PREFETCH

log = logging.getLogger(__name__)

EXIT_REPLACE = 75
MAX_BACKOFF_S = 30.0
STABLE_AFTER_S = 60.0
DEFAULT_WORKER_MEMORY_MB = 256
MAX_WORKERS_PER_QUEUE = 64
"""A typo such as ``scale 100000`` must not fork-bomb every machine."""


class ScaleRefused(UserError):
    """A scale request the memory budget cannot hold."""


@dataclass
class _Slot:
    """One place in a pool; its process is replaced when it exits."""

    worker_id: str
    queue: str
    process: asyncio.subprocess.Process | None = None
    state: str = "starting"
    restarts: int = 0
    failures: int = 0
    started_at: float = field(default_factory=time.time)
    last_exit: int | None = None
    retiring: bool = False
    task: asyncio.Task[None] | None = None

    @property
    def current_id(self) -> str:
        """The worker id of the slot's current process: each process gets a new one, so
        the rescuer never mistakes a replacement for the process that died."""
        return f"{self.worker_id}.{self.restarts}"

    def is_named(self, worker_id: str) -> bool:
        """True for the slot's own name or its current process's worker id."""
        return worker_id in (self.worker_id, self.current_id)


class Supervisor:
    """Starts, restarts, scales and drains local worker processes."""

    def __init__(
        self,
        settings: Settings,
        targets: Mapping[str, int],
        *,
        memory_budget_mb: int | None = None,
        worker_max_memory_mb: int | None = None,
        worker_cpus: float | None = None,
        prefetch: int = DEFAULT_PREFETCH,
        concurrency: int = 1,
        grace_s: float = 30.0,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.settings = settings
        self.host = settings.host
        self.id = f"{self.host}-{os.getpid()}"
        self.targets: dict[str, int] = dict(targets)
        self.memory_budget_mb = memory_budget_mb
        self.worker_max_memory_mb = worker_max_memory_mb
        self.worker_cpus = worker_cpus
        """Cores each worker offers its jobs' requests (None: the worker's default, the
        cores its process may use)."""
        self.prefetch = prefetch
        self.concurrency = concurrency
        self.grace_s = grace_s
        self.extra_args = tuple(extra_args)
        self._slots: list[_Slot] = []
        self._serial = 0
        self._stopping = False
        self._lock = asyncio.Lock()

    @property
    def memory_per_worker_mb(self) -> int:
        """What one worker is allowed to use (and what the budget reserves for it)."""
        return self.worker_max_memory_mb or DEFAULT_WORKER_MEMORY_MB

    def _check_budget(self, targets: Mapping[str, int]) -> None:
        if self.memory_budget_mb is None:
            return
        total = sum(targets.values()) * self.memory_per_worker_mb
        if total > self.memory_budget_mb:
            fits = self.memory_budget_mb // self.memory_per_worker_mb
            raise ScaleRefused(
                f"{sum(targets.values())} workers x {self.memory_per_worker_mb} MiB = "
                f"{total} MiB exceeds the memory budget of {self.memory_budget_mb} MiB "
                f"(room for {fits} workers in all)"
            )

    async def start(self) -> None:
        """Start every pool at its target size."""
        for queue, workers in self.targets.items():
            check_queue_name(queue)
            if not 0 <= workers <= MAX_WORKERS_PER_QUEUE:
                raise ScaleRefused(
                    f"{workers} workers for queue {queue!r}: give 0 to {MAX_WORKERS_PER_QUEUE}"
                )
        self._check_budget(self.targets)
        async with self._lock:
            await self._converge()

    async def scale(self, queue: str, workers: int) -> int:
        """Set the number of workers for ``queue``; returns the new target."""
        # Scale commands also arrive over the control exchange, from anyone who can
        # publish there: a queue no job can have ("a b", "default\n") gets no process.
        check_queue_name(queue)
        if not 0 <= workers <= MAX_WORKERS_PER_QUEUE:
            raise ScaleRefused(
                f"cannot scale queue {queue!r} to {workers} workers: give 0 to "
                f"{MAX_WORKERS_PER_QUEUE}"
            )
        proposed = {**self.targets, queue: workers}
        self._check_budget(proposed)
        async with self._lock:
            self.targets = proposed
            if workers == 0:
                self.targets.pop(queue)
            await self._converge()
        log.info("scaled queue %s to %d workers", queue, workers)
        return workers

    async def _converge(self) -> None:
        if self._stopping:
            return
        for queue in sorted({*self.targets, *(s.queue for s in self._slots)}):
            live = [s for s in self._slots if s.queue == queue and not s.retiring]
            want = self.targets.get(queue, 0)
            for _ in range(want - len(live)):
                self._serial += 1
                slot = _Slot(f"{self.id}-{queue}-{self._serial}", queue)
                self._slots.append(slot)
                slot.task = asyncio.create_task(self._keep(slot), name=f"slot:{slot.worker_id}")
            for slot in sorted(live, key=lambda s: s.started_at, reverse=True)[: len(live) - want]:
                slot.retiring = True
                self._signal(slot, signal.SIGTERM)

    async def recycle(self, worker_id: str) -> bool:
        """Drain one worker; its slot starts a fresh process. False if it is not ours."""
        for slot in self._slots:
            if slot.is_named(worker_id) and slot.process is not None:
                self._signal(slot, signal.SIGTERM)
                slot.state = "recycling"
                return True
        return False

    def owns(self, worker_id: str) -> bool:
        """True when the worker is one of this supervisor's processes."""
        return any(s.is_named(worker_id) for s in self._slots)

    async def stop(self, grace_s: float | None = None) -> None:
        """Drain every worker (SIGTERM), then kill what is left after the grace period."""
        self._stopping = True
        grace = self.grace_s if grace_s is None else grace_s
        for slot in self._slots:
            slot.retiring = True
            self._signal(slot, signal.SIGTERM)
        tasks = [s.task for s in self._slots if s.task is not None]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace + 5)
            for slot in self._slots:
                self._signal(slot, signal.SIGKILL)
            if pending:
                await asyncio.wait(pending, timeout=5)
        self._slots.clear()

    def kill(self, worker_id: str) -> bool:
        """SIGKILL one worker (tests and chaos runs); its slot restarts it."""
        for slot in self._slots:
            if slot.is_named(worker_id):
                return self._signal(slot, signal.SIGKILL)
        return False

    def snapshot(self) -> SupervisorSnapshot:
        """An immutable view for the console."""
        views = tuple(
            Worker(
                id=s.current_id,
                host=self.host,
                pid=s.process.pid if s.process else None,
                queues=(s.queue,),
                state=s.state,
                started_at=epoch_to_datetime(s.started_at),
                local=True,
                restarts=s.restarts,
                last_exit=s.last_exit,
            )
            for s in self._slots
        )
        return SupervisorSnapshot(
            self.id,
            self.host,
            dict(self.targets),
            views,
            self.memory_budget_mb,
            self.memory_per_worker_mb,
            sum(self.targets.values()) * self.memory_per_worker_mb,
        )

    def pids(self) -> list[int]:
        """Process ids of the running workers."""
        return [s.process.pid for s in self._slots if s.process and s.process.returncode is None]

    def _signal(self, slot: _Slot, sig: signal.Signals) -> bool:
        proc = slot.process
        if proc is None or proc.returncode is not None:
            return False
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
            return True
        return False

    def _command(self, slot: _Slot) -> list[str]:
        cmd = [
            sys.executable,
            "-m",
            "engine.worker",
            "--queues",
            slot.queue,
            "--prefetch",
            str(self.prefetch),
            "--concurrency",
            str(self.concurrency),
            "--worker-id",
            slot.current_id,
            "--supervisor-id",
            self.id,
            "--supervisor-pid",
            str(os.getpid()),
            "--grace-s",
            str(self.grace_s),
        ]
        if self.worker_max_memory_mb is not None or self.memory_budget_mb is not None:
            # Under a budget every worker gets its share as a limit, so one that
            # grows past it is recycled and a job asking for more waits with the reason.
            cmd += ["--max-memory-mb", str(self.memory_per_worker_mb)]
        if self.worker_cpus is not None:
            cmd += ["--cpus", repr(self.worker_cpus)]
        return [*cmd, *self.extra_args]

    async def _keep(self, slot: _Slot) -> None:
        """Run the slot's process; replace it when it exits, until the slot retires."""
        env = {**os.environ, **to_environ(self.settings)}
        while not slot.retiring and not self._stopping:
            slot.state = "starting"
            slot.started_at = time.time()
            try:
                slot.process = await asyncio.create_subprocess_exec(
                    *self._command(slot), env=env, stdin=asyncio.subprocess.DEVNULL
                )
            except OSError as exc:
                log.error("cannot start worker %s: %s", slot.worker_id, exc)
                slot.failures += 1
                await asyncio.sleep(min(2**slot.failures, MAX_BACKOFF_S))
                continue
            slot.state = "running"
            if slot.retiring or self._stopping:  # retired while it was starting
                self._signal(slot, signal.SIGTERM)
            code = await slot.process.wait()
            slot.last_exit = code
            if slot.retiring or self._stopping:
                break
            slot.restarts += 1
            uptime = time.time() - slot.started_at
            if code in (0, EXIT_REPLACE):
                slot.failures = 0
                log.info("worker %s exited (%d); starting a fresh one", slot.worker_id, code)
                continue
            slot.failures = 0 if uptime > STABLE_AFTER_S else slot.failures + 1
            delay = min(0.5 * 2 ** max(slot.failures - 1, 0), MAX_BACKOFF_S)
            slot.state = f"crashed ({code}); restart in {delay:g} s"
            log.warning("worker %s exited with %d; restarting in %g s", slot.worker_id, code, delay)
            await asyncio.sleep(delay)
        slot.state = "stopped"
        with contextlib.suppress(ValueError):
            self._slots.remove(slot)
