"""Running one chaos scenario: the engine as a child process, a steady producer, a fault.

The harness is an outside observer. The engine runs exactly as an operator
runs it — ``python -m queueconsole engine`` in a session of its own, with its
supervisor and worker processes — so a fault can kill any of them, the
harness's own event loop never slows the engine down, and nothing the harness
holds in memory can make a figure look better than the database says.

A producer submits the workload in batches while keeping at most
``backlog`` jobs unfinished, so submissions continue through every fault
(through a broker outage they commit and are published later by the
reconciler; through a database outage they wait). A submission that failed
may still have committed; the producer then looks for the batch's label in
the database before trying again, so no batch is written twice or skipped.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
from sqlalchemy import text

from bench.chaos.measure import Fault, Recovery, Tally, recovery, tally, timeline
from bench.chaos.workload import BATCH, QUEUES, Batch, Mix, build, count
from engine.broker.admin import delete_namespace
from engine.broker.names import Names
from engine.client import Client
from engine.config import Settings, to_environ
from engine.db.database import Database
from engine.runtime.wiring import open_client
from localservices import PrivatePostgres, PrivateRabbitMQ, PrivateRedis
from localservices.server import end_tree

REPO = Path(__file__).resolve().parents[2]
"""The checkout: the engine's child process runs here."""

POLL_S = 0.25  # seconds between looks at the database while waiting
READY_TIMEOUT_S = 120.0  # seconds for an engine's workers to register and heartbeat
STOP_EXTRA_S = 20.0  # seconds beyond the drain grace before an engine is killed
SUBMIT_RETRY_S = 0.5  # seconds between attempts of a failed submission
SUBMIT_GIVE_UP_S = 180.0  # seconds a single batch may keep failing before the run stops
LOG_TAIL_LINES = 15

_TERMINAL_COUNT = text(
    "SELECT count(*) FILTER (WHERE state IN ('completed', 'failed', 'cancelled')) AS done, "
    "count(*) AS total FROM jobs"
)
_BATCH_WRITTEN = text(f"SELECT EXISTS (SELECT 1 FROM jobs WHERE payload->>'{BATCH}' = :label)")
_READY_WORKERS = text(
    "SELECT count(*) FROM workers WHERE supervisor_id = :sid AND stopped_at IS NULL "
    "AND state <> 'starting'"
)


_ALL_ENGINES: list[EngineProcess] = []
"""Every engine process this interpreter started, for :func:`destroy_all`."""


def destroy_all() -> None:
    """Kill every engine process (and its workers) this interpreter started. Idempotent;
    also run at exit, so an interrupted run leaves nothing behind."""
    while _ALL_ENGINES:
        engine = _ALL_ENGINES.pop()
        with contextlib.suppress(Exception):
            engine.destroy()


atexit.register(destroy_all)


class ChaosError(Exception):
    """The run could not go on (an engine that never started, a batch never accepted)."""


@dataclass(frozen=True, slots=True)
class Services:
    """Where a scenario runs, and handles on the private servers a fault may break."""

    settings: Settings
    """Settings of the scenario: its own database (migrated, empty) and namespace."""
    postgres: PrivatePostgres | None = None
    redis: PrivateRedis | None = None
    rabbitmq: PrivateRabbitMQ | None = None


@dataclass(frozen=True, slots=True)
class Stage:
    """What a scenario's set-up prepared around the engine."""

    engine_settings: Settings | None = None
    """The engine's own settings when they differ (e.g. its database behind a proxy);
    the harness keeps reading and submitting on :attr:`Services.settings`."""
    prop: Any = None
    """Whatever the fault needs at hand (a proxy to arm …)."""


@dataclass(frozen=True, slots=True)
class RunOptions:
    """How every scenario of a run is run."""

    jobs: int = 10_000
    workers_per_queue: int = 1
    queues: tuple[str, ...] = QUEUES
    seed: int = 7
    mix: Mix = field(default_factory=Mix)
    backlog: int = 3000
    """Jobs submitted but unfinished the producer allows before it waits."""
    settle_timeout_s: float = 600.0
    """Longest wait for every job to end after the fault (then the rest count as lost)."""
    stall_s: float = 120.0
    """Stop waiting sooner when no job ended for this long."""
    grace_s: float = 10.0
    """The engine's drain grace (``--grace-s``)."""
    heartbeat_timeout_s: float | None = None
    """``--heartbeat-timeout-s``; the engine's default when None."""
    reconcile_after_s: float | None = None
    """``--reconcile-after-s``; the engine's default when None."""
    log_dir: Path | None = None
    """Where engine logs go (a temporary directory's when None)."""
    say: Callable[[str], None] = field(default=lambda line: print(line, file=sys.stderr))
    """Progress lines."""


@dataclass(frozen=True, slots=True)
class Row:
    """One scenario's line of the table, with what stands behind it."""

    scenario: str
    tally: Tally
    recovery: Recovery | None
    """None when the scenario injected no fault."""
    faults: int
    notes: tuple[str, ...]
    facts: Mapping[str, float] = field(default_factory=dict)
    """Figures a fault recorded (``kills``, ``purged``, ``orphans_left`` …), for tests."""


class EngineProcess:
    """``python -m queueconsole engine`` in a session of its own.

    Every worker process it was ever seen with is remembered, so whatever is
    left at the end — orphans of a killed supervisor included — is killed.
    """

    def __init__(self, settings: Settings, options: RunOptions, log_path: Path) -> None:
        self.settings = settings
        self.options = options
        self.log_path = log_path
        self.popen: subprocess.Popen[bytes] | None = None
        self.seen: dict[int, psutil.Process] = {}
        self._ended = False
        """Reaped: its pid may name another process now, so it is never signalled again."""

    @property
    def pid(self) -> int:
        assert self.popen is not None, "not started"
        return self.popen.pid

    @property
    def supervisor_id(self) -> str:
        """The id its supervisor registers workers under (``host-pid``)."""
        return f"{socket.gethostname()}-{self.pid}"

    @property
    def expected_workers(self) -> int:
        return self.options.workers_per_queue * len(self.options.queues)

    def start(self) -> None:
        """Launch the engine; returns at once (see :meth:`wait_ready`)."""
        argv = [
            sys.executable,
            "-m",
            "queueconsole",
            "engine",
            "--workers",
            str(self.options.workers_per_queue),
            "--queues",
            ",".join(self.options.queues),
            "--grace-s",
            str(self.options.grace_s),
        ]
        if self.options.heartbeat_timeout_s is not None:
            argv += ["--heartbeat-timeout-s", str(self.options.heartbeat_timeout_s)]
        if self.options.reconcile_after_s is not None:
            argv += ["--reconcile-after-s", str(self.options.reconcile_after_s)]
        env = {**os.environ, **to_environ(self.settings), "PYTHONUNBUFFERED": "1"}
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        _ALL_ENGINES.append(self)
        with self.log_path.open("ab") as log:
            self.popen = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=REPO,
                env=env,
                start_new_session=True,
            )

    @property
    def running(self) -> bool:
        """Whether the engine process itself is alive (not reaped: see ``end_tree``)."""
        if self.popen is None or self._ended:
            return False
        try:
            proc = psutil.Process(self.popen.pid)
            return proc.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False

    def workers(self) -> list[psutil.Process]:
        """The engine's live child processes (its workers), remembered for clean-up."""
        if not self.running:
            return []
        try:
            children = psutil.Process(self.pid).children()
        except psutil.Error:
            return []
        for child in children:
            self.seen.setdefault(child.pid, child)
        return [c for c in children if _alive(c)]

    async def wait_ready(self, db: Database) -> float:
        """Wait until every worker registered and heart-beat; returns the seconds it took."""
        began = time.monotonic()
        while True:
            if not self.running:
                raise ChaosError(f"the engine exited while starting{self.log_tail()}")
            with contextlib.suppress(Exception):
                async with db.connection() as conn:
                    ready = await conn.scalar(_READY_WORKERS, {"sid": self.supervisor_id})
                if ready >= self.expected_workers:
                    self.workers()
                    return time.monotonic() - began
            if time.monotonic() - began > READY_TIMEOUT_S:
                raise ChaosError(
                    f"the engine's workers did not all start within {READY_TIMEOUT_S:g} s"
                    f"{self.log_tail()}"
                )
            await asyncio.sleep(POLL_S)

    def kill_worker(self, rng: random.Random) -> int | None:
        """SIGKILL one worker chosen at random; its pid, or None when none runs."""
        workers = self.workers()
        if not workers:
            return None
        victim = rng.choice(workers)
        with contextlib.suppress(psutil.Error):
            victim.kill()
            return victim.pid
        return None

    def crash(self) -> list[psutil.Process]:
        """SIGKILL the engine process alone, as a crash would; returns its workers then.

        It is not reaped (its pid stays ours) until :meth:`destroy`."""
        workers = self.workers()
        if self.running:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
        return workers

    async def stop(self) -> None:
        """Drain: SIGTERM, then everything left is killed after the grace period."""
        if self.popen is None:
            return
        self.workers()
        if self.running:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)  # not reaped yet: still our process
            deadline = time.monotonic() + self.options.grace_s + STOP_EXTRA_S
            while time.monotonic() < deadline:
                if not self.running:
                    break
                await asyncio.sleep(POLL_S)
        await asyncio.to_thread(self.destroy)

    def destroy(self) -> None:
        """Kill the engine, its group and every worker it had; reap it. Idempotent."""
        if self.popen is None or self._ended:
            return
        end_tree(self.popen, signal.SIGKILL, known=list(self.seen.values()))
        self._ended = True

    def log_tail(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
        except OSError:
            return ""
        return f"; last lines of {self.log_path}:\n" + "\n".join(f"    {x}" for x in lines)


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def now() -> datetime:
    """Wall-clock time, comparable with PostgreSQL's ``now()`` on this machine."""
    return datetime.now(UTC)


class Chaos:
    """What a scenario's fault sees and may do while the workload runs."""

    def __init__(
        self,
        name: str,
        services: Services,
        options: RunOptions,
        db: Database,
        planned: int,
        log_dir: Path,
        stage: Stage,
    ) -> None:
        self.name = name
        self.services = services
        self.settings = services.settings
        self.stage = stage
        self.options = options
        self.db = db
        self.planned = planned
        self.log_dir = log_dir
        self.rng = random.Random(f"{options.seed}-{name}")
        self.faults: list[Fault] = []
        self.notes: list[str] = []
        self.facts: dict[str, float] = {}
        self.engines: list[EngineProcess] = []
        self._producer_done = asyncio.Event()
        self._deadline = time.monotonic() + options.settle_timeout_s

    @property
    def engine(self) -> EngineProcess:
        """The engine running now (the latest started)."""
        return self.engines[-1]

    def say(self, line: str) -> None:
        self.options.say(f"[{self.name}] {line}")

    def launch_engine(self) -> EngineProcess:
        """Start an engine; returns at once (wait with :meth:`EngineProcess.wait_ready`)."""
        log_path = self.log_dir / f"{self.name}-engine-{len(self.engines)}.log"
        engine = EngineProcess(self.stage.engine_settings or self.settings, self.options, log_path)
        self.engines.append(engine)
        engine.start()
        return engine

    async def start_engine(self) -> EngineProcess:
        """Start an engine and wait for its workers."""
        engine = self.launch_engine()
        took = await engine.wait_ready(self.db)
        self.say(
            f"engine pid {engine.pid} up with {engine.expected_workers} workers in {took:.1f} s"
        )
        return engine

    async def progress(self) -> tuple[int, int] | None:
        """(jobs ended, jobs in the database), or None while PostgreSQL does not answer."""
        try:
            async with self.db.connection() as conn:
                row = (await conn.execute(_TERMINAL_COUNT)).one()
        except Exception:
            return None
        return int(row.done), int(row.total)

    async def wait_progress(self, share: float) -> None:
        """Wait until ``share`` of the planned jobs ended (bounded by the settle timeout)."""
        while time.monotonic() < self._deadline:
            seen = await self.progress()
            if seen is not None and seen[0] >= share * self.planned:
                return
            await asyncio.sleep(POLL_S)
        raise ChaosError(f"fewer than {share:.0%} of the jobs ended in time")

    async def blocking(self, fn: Callable[[], Any]) -> Any:
        """Run a blocking call (a server stop or start) off the event loop."""
        return await asyncio.to_thread(fn)


# -- producing ---------------------------------------------------------------


async def produce(chaos: Chaos, client: Client, batches: Sequence[Batch]) -> int:
    """Submit every batch, never more than the backlog ahead; returns jobs submitted."""
    submitted = 0
    try:
        for batch in batches:
            await _wait_for_room(chaos, submitted, len(batch.specs))
            await _submit(chaos, client, batch)
            submitted += len(batch.specs)
    finally:
        chaos._producer_done.set()
    return submitted


async def _wait_for_room(chaos: Chaos, submitted: int, size: int) -> None:
    while time.monotonic() < chaos._deadline:
        seen = await chaos.progress()
        if seen is not None and submitted + size - seen[0] <= chaos.options.backlog:
            return
        await asyncio.sleep(POLL_S)


async def _submit(chaos: Chaos, client: Client, batch: Batch) -> None:
    """Submit one batch; after a failure, submit again only if it was not written."""
    give_up = time.monotonic() + SUBMIT_GIVE_UP_S
    failures = 0
    while True:
        try:
            if batch.workflow:
                await client.submit_workflow(batch.specs, name=f"chaos {batch.label}")
            else:
                await client.submit_many(batch.specs)
            if failures:
                chaos.say(f"batch {batch.label} accepted after {failures} failed attempt(s)")
            return
        except Exception as exc:  # PostgreSQL went away: the commit may or may not have happened
            failures += 1
            if time.monotonic() > give_up:
                raise ChaosError(
                    f"batch {batch.label} was refused for {SUBMIT_GIVE_UP_S:g} s: {exc}"
                ) from exc
            if await _written(chaos, batch.label, give_up):
                chaos.say(f"batch {batch.label}: the failed submission had committed")
                return
            await asyncio.sleep(SUBMIT_RETRY_S)


async def _written(chaos: Chaos, label: str, give_up: float) -> bool:
    """Whether a batch is in the database (asked until PostgreSQL answers)."""
    while True:
        try:
            async with chaos.db.connection() as conn:
                return bool(await conn.scalar(_BATCH_WRITTEN, {"label": label}))
        except Exception:
            if time.monotonic() > give_up:
                raise
            await asyncio.sleep(SUBMIT_RETRY_S)


async def settle(chaos: Chaos) -> None:
    """Wait until every job in the database ended, the settle timeout, or a stall."""
    last_done, last_change = -1, time.monotonic()
    while time.monotonic() < chaos._deadline:
        seen = await chaos.progress()
        if seen is not None:
            done, total = seen
            if done == total and chaos._producer_done.is_set():
                return
            if done != last_done:
                last_done, last_change = done, time.monotonic()
            elif time.monotonic() - last_change > chaos.options.stall_s:
                chaos.say(f"no job ended for {chaos.options.stall_s:g} s; {total - done} live")
                return
        await asyncio.sleep(POLL_S)
    chaos.say("settle timeout reached")


# -- one scenario ------------------------------------------------------------

Inject = Callable[[Chaos], Awaitable[None]]


async def run_scenario(
    name: str,
    services: Services,
    options: RunOptions,
    inject: Inject,
    *,
    long_jobs: Sequence[float] = (),
    log_dir: Path,
    stage: Stage | None = None,
) -> Row:
    """Run the workload with one fault and read the outcome from the database."""
    batches = build(
        options.jobs, seed=options.seed, mix=options.mix, long_jobs=long_jobs, queues=options.queues
    )
    planned = count(batches)
    db = Database(services.settings, pool_size=2, application_name="chaos-observer")
    chaos = Chaos(name, services, options, db, planned, log_dir, stage or Stage())
    began = time.monotonic()
    try:
        await chaos.start_engine()
        chaos.say(f"submitting {planned:,} jobs")
        async with open_client(services.settings) as client:
            producer = asyncio.create_task(produce(chaos, client, batches), name="chaos-producer")
            try:
                await inject(chaos)
                await producer
            finally:
                if not producer.done():
                    producer.cancel()
                    await asyncio.gather(producer, return_exceptions=True)
            await settle(chaos)
        await chaos.engine.stop()
        result = await tally(db)
        line = await timeline(db)
        chaos.say(
            f"done in {time.monotonic() - began:.0f} s: {result.completed:,} completed, "
            f"{result.lost} lost"
        )
        healed = recovery(line, chaos.faults)
        notes = [*chaos.notes, f"{result.presumed_lost_runs} runs failed as WorkerLost"]
        if healed is not None:
            notes.append(healed.describe())
        return Row(name, result, healed, len(chaos.faults), tuple(notes), dict(chaos.facts))
    finally:
        for engine in chaos.engines:
            await asyncio.to_thread(engine.destroy)
        with contextlib.suppress(Exception):
            await delete_namespace(
                services.settings, Names(services.settings.namespace), options.queues
            )
        await db.close()
