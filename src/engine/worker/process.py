"""One worker process: consume, claim in batches, run, record in batches, heartbeat, drain.

The path of a job through here:

1. The consumer hands over every message that arrived together.
2. One transaction claims them all (attempt-fenced); then the messages are
   acked — from now on PostgreSQL owns the job, so RabbitMQ's
   ``consumer_timeout`` can never fire on a long run.
3. Runner tasks take claimed jobs from a short local queue and execute them
   (:mod:`engine.worker.execution`).
4. A recorder writes the outcomes that finished together in one transaction
   and runs the after-commit hooks (publishing released dependents, dead
   letters, the status cache).

``on_batch`` only returns once the local queue has room again, so the broker
keeps everything beyond ``prefetch`` and other workers can take it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

import psutil

from engine.broker.consumer import Consumer, Delivery, Garbage
from engine.broker.control import ControlBus
from engine.broker.publisher import Publisher
from engine.config import Settings
from engine.db.driver import DriverDatabase
from engine.hooks import AfterCommit, Closable, run_hooks
from engine.resources import EPSILON_CPU, describe_capacity, describe_request
from engine.snapshots import WorkerBeat
from engine.states import State
from engine.store import workers as store
from engine.store.changes import ChangeSet
from engine.store.transitions import (
    Claimed,
    Failure,
    Success,
    claim,
    claimed_by,
    complete,
    fail,
    give_back,
)
from engine.worker.execution import Executor, Outcome
from engine.worker.fingerprint import fingerprint
from engine.worker.options import DEFAULT_PREFETCH as DEFAULT_PREFETCH
from engine.worker.options import WorkerOptions as WorkerOptions
from engine.worker.registry import JobContext, load_modules, registry
from engine.worker.status_hooks import status_hooks

log = logging.getLogger(__name__)

NO_HANDLER_RETRY_S = 30.0
TOO_BIG_RETRY_S = 60.0
"""Seconds a job that fits no live worker waits before it is offered again (a worker
that registers with room for it wakes it sooner: :func:`store.wake_fitting`)."""
ELSEWHERE_RETRY_S = 1.0
"""Seconds a job too big for this worker, but not for another live one, waits: long
enough not to bounce straight back here, short enough not to be noticed."""
EXIT_REPLACE = 75
DRAIN_MARGIN_S = 15.0
"""Seconds a drain may take beyond the grace period (records, closes) before the worker
leaves without finishing it."""
EXIT_DRAIN_STUCK = 70
"""Exit status of a worker that left because its drain hung (EX_SOFTWARE)."""
"""Exit code asking the supervisor for a fresh process now (stuck handler, recycle)."""
CLAIM_AHEAD_S = 0.05
"""Claim ahead only as much work as should start within this time."""
HOLD_S = 1.0
"""How long a busy worker keeps deliveries it cannot claim yet before handing them back."""
DB_OPERATION_TIMEOUT_S = 15.0
"""Longest a claim, a flush or a heartbeat may wait on PostgreSQL before it is given up
as failed (and, for a claim, checked for having committed)."""
IN_DOUBT_RETRY_S = 0.5  # seconds between asks whether a claim that failed had committed
LIVE_LOGS_S = 0.5
"""Seconds between writes of the log lines running jobs have added since the last one, so
a job's detail can follow its log while it runs (the rest are written with the outcome)."""


@dataclass
class _Run:
    claimed: Claimed
    ctx: JobContext
    started_at: datetime | None = None
    """When it started here, if it waited for room after its claim (the claim's time
    otherwise stands)."""
    logged: int = 0
    """How many of ``ctx.logs`` are written already (by :meth:`Worker._stream_logs`)."""


@dataclass
class _Finished:
    run: _Run
    outcome: Outcome


@dataclass
class _Stats:
    done: int = 0
    failed: int = 0
    garbage: int = 0
    refused: int = 0
    fenced: int = 0
    """Completions the attempt fence refused: runs cancelled meanwhile, or handed elsewhere
    while this worker was presumed lost (cut off from the database, stopped by a debugger)."""
    claims: int = 0
    claimed: int = 0
    flushes: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class Worker:
    """A worker process's engine side; :meth:`run` returns the process exit code."""

    def __init__(self, settings: Settings, options: WorkerOptions) -> None:
        self.settings = settings
        self.options = options
        self.id = options.worker_id or (f"{settings.host}-{os.getpid()}-{secrets.token_hex(2)}")
        self.stats = _Stats()
        # asyncpg's own pool: the job path needs no SQLAlchemy engine (see engine.db.driver)
        self._db = DriverDatabase(settings, pool_size=3, operation_timeout_s=DB_OPERATION_TIMEOUT_S)
        self._publisher = Publisher(settings)
        self._hooks: list[AfterCommit] = [self._publisher, *status_hooks(settings)]
        self.client = _ClientOnDemand(settings, self._hooks)
        # The channel-wide limit starts low, as for long jobs: a first burst of
        # --prefetch messages per worker would sit here unclaimed while other workers
        # idle. Short runs raise it (_wanted_prefetch).
        self._consumer = Consumer(
            settings,
            options.queues,
            options.prefetch,
            on_batch=self._on_batch,
            limit=2 * options.concurrency + 1,
        )
        self._control = ControlBus(settings)
        self._executor: Executor | None = None
        self._runs: dict[int, _Run] = {}
        """Claimed runs by job id, until their outcome is recorded."""
        self._waiting: list[Claimed] = []
        """Claimed runs that fit this worker but not beside what it runs now, oldest first:
        they start as running jobs finish (their requests never add up past capacity)."""
        self._cpu_requested = 0.0
        self._memory_requested_mb = 0
        self._marking: set[asyncio.Task[None]] = set()
        """Writes of held runs' real start, kept referenced until done."""
        self._rss_checked = 0.0
        self._room = asyncio.Event()
        self._room.set()
        self._finished: list[_Finished] = []
        self._finished_ready = asyncio.Event()
        self._flush_lock = asyncio.Lock()
        self._stop = asyncio.Event()
        self._exit_code = 0
        self._stop_reason = "stopped"
        self._tasks: list[asyncio.Task[None]] = []
        self._process = psutil.Process()
        self._rss = 0
        self._avg_run_s = CLAIM_AHEAD_S
        """Moving average of recent run times, for :meth:`_capacity`."""
        self._supervisor_pid = options.supervisor_pid
        if self._supervisor_pid is None and options.supervisor_id is not None:
            self._supervisor_pid = os.getppid()
        """The supervisor that started this worker. If it dies (``kill -9``, a crash) the
        worker drains and exits: left running, nobody would drain, scale, recycle or
        restart it, and a restarted supervisor would start a full pool beside it."""

    # -- lifecycle ------------------------------------------------------------

    async def _register(self) -> None:
        """Write this worker's row (at start, and again if it was presumed lost)."""
        info = WorkerBeat(
            self.id,
            self.settings.host,
            os.getpid(),
            tuple(self.options.queues),
            supervisor_id=self.options.supervisor_id,
            max_memory_mb=self.options.max_memory_mb,
            cpus=self.options.cpus,
        )

        async def register(conn: Any) -> int:
            await store.register_worker(conn, info)
            # Jobs that waited for a worker this big need not wait out their delay.
            return await store.wake_fitting(
                conn, self.options.queues, self.options.cpus, self.options.max_memory_mb
            )

        woken = await self._db.run(register)
        if woken:
            log.info("worker %s has room for %d job(s) that fit no worker before", self.id, woken)

    async def run(self) -> int:
        """Work until asked to stop (signal, recycle, control message); then drain."""
        load_modules(self.settings.job_modules)
        await self._register()
        await self._publisher.start()
        self._executor = Executor(
            self.options.concurrency,
            on_done=self._on_done,
            grace_s=self.options.interrupt_grace_s,
        )
        self._tasks = [asyncio.create_task(self._recorder(), name="recorder")]
        self._tasks.append(asyncio.create_task(self._heartbeat_loop(), name="heartbeat"))
        self._tasks.append(asyncio.create_task(self._log_streamer(), name="stream-logs"))
        with contextlib.suppress(Exception):
            await self._control.subscribe(self._on_control)
        await self._consumer.start()
        log.info("worker %s consuming %s", self.id, ",".join(self.options.queues))
        await self._stop.wait()
        try:
            async with asyncio.timeout(self.options.grace_s + DRAIN_MARGIN_S):
                await self._drain()
        except TimeoutError:
            # A drain stuck on a service (a lock, a broker call that never answers)
            # must not keep the process alive: an orphan would run on unsupervised and
            # a SIGTERM would never end it. Leave now; the rescuer hands back whatever
            # this worker still held once its heartbeat stops.
            log.error(
                "worker %s: drain did not finish within %.0f s (%s); leaving without it",
                self.id,
                self.options.grace_s + DRAIN_MARGIN_S,
                self._stop_reason,
            )
            logging.shutdown()
            os._exit(EXIT_DRAIN_STUCK)
        return self._exit_code

    def request_stop(self, reason: str = "stopped", exit_code: int = 0) -> None:
        """Begin a graceful drain (SIGTERM, SIGINT, recycle)."""
        if not self._stop.is_set():
            log.info("worker %s draining: %s", self.id, reason)
            self._stop_reason = reason
            self._exit_code = exit_code
            self._stop.set()
            self._room.set()  # a batch waiting for room returns its deliveries unclaimed

    async def _drain(self) -> None:
        """Stop consuming, finish or hand back every job, record everything, leave."""
        with contextlib.suppress(Exception):
            await self._consumer.pause()
        executor = self._ex
        # Claimed but never started: straight back to the queue, for someone else.
        unstarted = [(ctx.job_id, ctx.attempt) for ctx in executor.unstarted()]
        unstarted += [(c.id, c.attempt) for c in self._waiting]
        self._waiting.clear()
        for job_id, _ in unstarted:
            self._runs.pop(job_id, None)
        if unstarted:
            await self._commit(
                lambda conn: give_back(
                    conn, unstarted, started=False, reason="worker draining", worker_id=self.id
                )
            )
        # Running: wait for them within the grace period, then hand back the rest.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.options.grace_s):
                await executor.wait_idle()
        leftovers = [(ctx.job_id, ctx.attempt) for ctx in executor.running()]
        if leftovers:
            executor.abandon([job_id for job_id, _ in leftovers])
            for job_id, _ in leftovers:
                self._runs.pop(job_id, None)
            await self._commit(
                lambda conn: give_back(
                    conn,
                    leftovers,
                    started=True,
                    reason=f"worker stopped before the run finished ({self._stop_reason})",
                    worker_id=self.id,
                )
            )
        # Stop the background tasks, but never the recorder in the middle of a write:
        # a cancelled write would roll back outcomes nobody records again.
        async with self._flush_lock:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._flush()  # outcomes that finished while draining
        await asyncio.gather(*self._marking, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self._consumer.stop()
        with contextlib.suppress(Exception):
            await self._control.close()
        with contextlib.suppress(Exception):
            await self._db.run(lambda conn: store.stop_worker(conn, self.id, "stopped"))
        for hook in self._hooks:
            if isinstance(hook, Closable):
                with contextlib.suppress(Exception):
                    await hook.close()
        executor.close()
        with contextlib.suppress(Exception):
            await self.client.close()
        await self._db.close()
        log.info(
            "worker %s stopped (%s): %d done, %d failed; %d claimed in %d statements, "
            "outcomes recorded in %d",
            self.id,
            self._stop_reason,
            self.stats.done,
            self.stats.failed,
            self.stats.claimed,
            self.stats.claims,
            self.stats.flushes,
        )

    # -- consuming and claiming ---------------------------------------------

    async def _on_batch(self, items: list[Delivery | Garbage]) -> None:
        """Claim what arrived, but never more than this worker will start soon.

        Deliveries beyond :meth:`_capacity` stay unacked here until a slot
        frees up; if this process dies meanwhile, RabbitMQ hands them to
        another worker, whereas a claimed job would wait for the rescuer.
        """
        garbage = [i for i in items if isinstance(i, Garbage)]
        if garbage:
            self.stats.garbage += len(garbage)
            for g in garbage:
                log.warning(
                    "ignored a malformed message on %s: %s (%r)", g.queue, g.reason, g.excerpt
                )
            await self._consumer.ack([g.delivery_tag for g in garbage])
        pending = [i for i in items if isinstance(i, Delivery)]
        want = self._wanted_prefetch()
        if abs(want - self._consumer.limit) * 4 > self._consumer.limit:
            await self._consumer.set_limit(want)
        while pending:
            if self._stop.is_set():
                return  # never acked: the broker gives them to another worker
            room = self._capacity() - self._ex.pending() - len(self._waiting)
            if room <= 0:
                self._room.clear()
                try:
                    async with asyncio.timeout(HOLD_S):
                        await self._room.wait()
                except TimeoutError:
                    # Busy for a while yet: give the rest back so an idle worker (one
                    # that just started, say) can take them instead of waiting on us.
                    await self._consumer.nack([d.delivery_tag for d in pending], requeue=True)
                    return
                continue
            batch, pending = pending[:room], pending[room:]
            messages = [(d.job_id, d.attempt) for d in batch]
            try:
                claimed, refused, changes = await self._db.run_single(
                    partial(claim, messages=messages, worker_id=self.id)
                )
            except Exception:
                # The claim statement may have committed before the failure (the connection
                # dropped before its answer, or while noting refusals). Handed back then, the
                # runs would stay RUNNING here, never started, while this worker heart-beats
                # on: a redelivered copy finds them taken.
                adopted = await self._claimed_in_doubt(messages)
                if not adopted:
                    raise  # nothing was claimed: the consumer hands the deliveries back
                claimed, refused, changes = adopted, [], ChangeSet()
            self.stats.refused += len(refused)
            self.stats.claims += 1
            self.stats.claimed += len(claimed)
            await self._consumer.ack([d.delivery_tag for d in batch])
            # Start the work before the status cache hears of it: the claim is durable,
            # and the cache keeps the highest row version whichever write lands first.
            await self._dispatch(claimed)
            await run_hooks(self._hooks, changes)

    async def _claimed_in_doubt(self, messages: Sequence[tuple[int, int]]) -> list[Claimed]:
        """After a claim failed without saying whether it committed: the runs of
        ``messages`` the database says this worker claimed and it does not hold yet.

        Asked again until PostgreSQL answers; a worker that is stopping gives up (it
        marks itself stopped, and the rescuer retries the runs of a stopped worker).
        Asked while no outcome is being recorded, so a run that just finished is
        still among those held and is never started twice.
        """
        while not self._stop.is_set():
            try:
                async with self._flush_lock:
                    found = await self._db.run_single(
                        lambda conn: claimed_by(conn, messages, self.id)
                    )
                    # By run, not by job: a failed earlier attempt of the same job may
                    # still wait here to be recorded, and must not hide the new one.
                    held = {(r.claimed.id, r.claimed.attempt) for r in self._runs.values()}
                    held |= {(f.run.claimed.id, f.run.claimed.attempt) for f in self._finished}
            except Exception:
                await asyncio.sleep(IN_DOUBT_RETRY_S)
                continue
            adopted = [c for c in found if (c.id, c.attempt) not in held]
            if adopted:
                log.warning(
                    "worker %s: a claim of %d job(s) committed though it failed; running them",
                    self.id,
                    len(adopted),
                )
            return adopted
        return []

    def _capacity(self) -> int:
        """Runs this worker may hold: its concurrency plus about 50 ms of queued work.

        Short jobs are claimed in batches (one statement for many), long ones
        one slot at a time so they are not stuck behind each other here while
        another worker idles.
        """
        extra = int(CLAIM_AHEAD_S / max(self._avg_run_s, 1e-4))
        return self.options.concurrency + max(0, min(extra, self.options.prefetch))

    def _wanted_prefetch(self) -> int:
        """Messages the broker should hold out to this worker: what it would claim
        now plus one more round of its concurrency, at most ``--prefetch``.

        Short jobs get the whole ``--prefetch``, so a claim statement covers many of
        them; long ones about twice the concurrency, so this worker does not sit on
        messages (handing them back after a second) that an idle worker could start.
        """
        return max(1, min(self.options.prefetch, self._capacity() + self.options.concurrency))

    async def _dispatch(self, claimed: Sequence[Claimed]) -> None:
        """Start what fits beside the running jobs, hold what fits once they finish,
        defer (with the reason) what this worker cannot run at all."""
        no_handler: list[tuple[int, int]] = []
        too_big: list[Claimed] = []
        for c in claimed:
            if c.type not in registry:
                no_handler.append((c.id, c.attempt))
            elif not self._fits(c, alone=True):
                too_big.append(c)
            elif not self._waiting and self._fits(c, alone=False):
                self._start(c)
            else:
                self._waiting.append(c)  # oldest first: started as room frees up
        if no_handler:
            names = {c.id: c.type for c in claimed}
            for job_id, attempt in no_handler:
                reason = (
                    f"no handler for job type {names[job_id]!r} on worker {self.id}; "
                    f"retrying in {NO_HANDLER_RETRY_S:g} s"
                )
                await self._commit(
                    lambda conn, r=reason, run=(job_id, attempt): store.defer(
                        conn, [run], delay_s=NO_HANDLER_RETRY_S, reason=r, worker_id=self.id
                    )
                )
        for c in too_big:
            await self._defer_too_big(c)

    def _fits(self, c: Claimed, *, alone: bool) -> bool:
        """Whether ``c``'s requests fit this worker's capacity: on its own, or beside
        the requests of the jobs it has started."""
        cpu, mb = c.cpu or 0.0, c.memory_mb or 0
        used_cpu, used_mb = (0.0, 0) if alone else (self._cpu_requested, self._memory_requested_mb)
        limit = self.options.max_memory_mb
        return used_cpu + cpu <= self.options.cpus + EPSILON_CPU and (
            limit is None or used_mb + mb <= limit
        )

    def _start(self, c: Claimed, started_at: datetime | None = None) -> None:
        """Reserve ``c``'s requests and hand it to the executor."""
        ctx = JobContext(
            job_id=c.id,
            attempt=c.attempt,
            type=c.type,
            queue=c.queue,
            payload=c.payload,
            timeout_s=c.timeout_s,
            client=self.client,  # type: ignore[arg-type]  # made on first use
            loop=asyncio.get_running_loop(),
        )
        jt = registry.get(c.type)
        assert jt is not None
        self._cpu_requested += c.cpu or 0.0
        self._memory_requested_mb += c.memory_mb or 0
        self._runs[c.id] = _Run(c, ctx, started_at)
        self._ex.submit(jt, ctx)

    def _release(self, c: Claimed) -> None:
        """Give back ``c``'s requests, then start the held runs that fit now."""
        self._cpu_requested = max(0.0, self._cpu_requested - (c.cpu or 0.0))
        self._memory_requested_mb = max(0, self._memory_requested_mb - (c.memory_mb or 0))
        if not self._waiting or self._stop.is_set():
            return
        held, self._waiting = self._waiting, []
        for w in held:
            if self._fits(w, alone=False):
                self._start(w, datetime.now(UTC))
                task = asyncio.create_task(self._mark_started(w), name="mark-started")
                self._marking.add(task)
                task.add_done_callback(self._marking.discard)
            else:
                self._waiting.append(w)

    async def _mark_started(self, c: Claimed) -> None:
        """Move a held run's started_at to now, so the rescuer does not count the wait
        against its timeout. Best effort: the outcome records the real start anyway."""
        try:
            await self._db.run(lambda conn: store.mark_started(conn, c.id, c.attempt))
        except Exception as exc:
            log.warning("noting the start of job %d failed: %s", c.id, exc)

    async def _defer_too_big(self, c: Claimed) -> None:
        """Defer a run bigger than this worker, naming its request and the largest
        capacity a live worker of its queue offers; sooner if that one has room."""
        largest = await self._db.run(lambda conn: store.largest_capacity(conn, c.queue))
        fits_elsewhere = largest.fits(c.cpu, c.memory_mb)
        delay = ELSEWHERE_RETRY_S if fits_elsewhere else TOO_BIG_RETRY_S
        asked = describe_request(c.cpu, c.memory_mb)
        reason = (
            f"needs {asked}; worker {self.id} offers "
            f"{describe_capacity(self.options.cpus, self.options.max_memory_mb)}; "
            f"the largest capacity seen on queue {c.queue!r} is {largest.describe()}; "
            f"retrying in {delay:g} s"
        )
        await self._commit(
            lambda conn: store.defer(
                conn, [(c.id, c.attempt)], delay_s=delay, reason=reason, worker_id=self.id
            )
        )

    async def _commit(self, fn: Any) -> ChangeSet:
        changes: ChangeSet = await self._db.run(fn)
        await run_hooks(self._hooks, changes)
        return changes

    # -- running --------------------------------------------------------------

    @property
    def _ex(self) -> Executor:
        assert self._executor is not None, "the worker is not running"
        return self._executor

    def _on_done(self, ctx: JobContext, outcome: Outcome) -> None:
        """A run ended (called on the loop): queue its outcome for the recorder."""
        run = self._runs.pop(ctx.job_id, None)
        if run is None:
            return  # handed back while draining; the database already says so
        self._release(run.claimed)
        if outcome.kind in ("ok", "error"):
            self._avg_run_s += 0.2 * (outcome.run_s - self._avg_run_s)
        self._room.set()  # a slot is free: held deliveries may be claimed
        self._finished.append(_Finished(run, outcome))
        self._finished_ready.set()
        if self._ex.stuck:
            self.request_stop("a handler did not stop when interrupted", EXIT_REPLACE)
            return
        limit = self.options.max_memory_mb
        now = time.monotonic()
        if limit is not None and (outcome.run_s > 0.05 or now - self._rss_checked > 0.5):
            self._rss_checked = now
            if self._current_rss() > limit * 1024 * 1024:
                self.request_stop(
                    f"resident memory {self._rss // 2**20} MiB over --max-memory-mb {limit}",
                    EXIT_REPLACE,
                )

    async def _recorder(self) -> None:
        while True:
            await self._finished_ready.wait()
            await asyncio.sleep(0)  # let runs that finish together join this batch
            try:
                await self._flush()
            except Exception:
                log.exception("recording outcomes failed; retrying")
                await asyncio.sleep(0.5)

    async def _flush(self) -> None:
        """Write every finished outcome in one transaction, then run the hooks."""
        async with self._flush_lock:
            await self._flush_locked()

    async def _flush_locked(self) -> None:
        self._finished_ready.clear()
        batch, self._finished = self._finished, []
        if not batch:
            return
        successes: list[Success] = []
        failures: list[Failure] = []
        not_started: list[tuple[int, int]] = []
        logs: list[tuple[Any, ...]] = []
        for f in batch:
            c, o = f.run.claimed, f.outcome
            for at, level, message in f.run.ctx.logs[f.run.logged :]:
                logs.append((c.id, c.attempt, at, level, message))
            if o.kind == "ok":
                successes.append(
                    Success(
                        c.id,
                        c.attempt,
                        _jsonable(o.result),
                        o.peak_rss_bytes,
                        o.cpu_time_s,
                        started_at=f.run.started_at,
                    )
                )
            elif o.kind == "interrupted":
                continue  # cancelled: the job's state already says so; nothing to write
            elif o.kind == "not_started":
                not_started.append((c.id, c.attempt))
            else:
                etype = o.error_type or "Error"
                emsg = o.error_message or ""
                failures.append(
                    Failure(
                        c.id,
                        c.attempt,
                        etype,
                        emsg,
                        o.traceback,
                        fingerprint(etype, emsg),
                        peak_rss_bytes=o.peak_rss_bytes,
                        cpu_time_s=o.cpu_time_s,
                        started_at=f.run.started_at,
                    )
                )

        async def write(conn: Any) -> ChangeSet:
            changes = await complete(conn, successes, self.id)
            changes.extend(await fail(conn, failures, self.id))
            changes.extend(
                await give_back(
                    conn,
                    not_started,
                    started=False,
                    reason="its worker stopped before it began",
                    worker_id=self.id,
                )
            )
            await store.insert_logs(conn, logs)
            return changes

        try:
            if failures or not_started or logs:
                changes: ChangeSet = await self._db.run(write)
            else:  # the common case: one statement, committed by itself
                changes = await self._db.run_single(lambda conn: complete(conn, successes, self.id))
        except Exception:
            self._finished[:0] = batch  # keep them; the next flush tries again
            self._finished_ready.set()
            raise
        completed = {t.job_id for t in changes.transitions if t.to_state is State.COMPLETED}
        fenced = [s.job_id for s in successes if s.job_id not in completed]
        if fenced:
            # Nothing was written for them: another worker owns (or finished) the attempt.
            self.stats.fenced += len(fenced)
            log.warning(
                "worker %s: %d late completion(s) refused by the attempt fence (jobs %s): "
                "cancelled meanwhile, or handed to another worker while this one was presumed lost",
                self.id,
                len(fenced),
                ", ".join(str(i) for i in fenced[:10]),
            )
        self.stats.done += len(successes) - len(fenced)
        self.stats.failed += len(failures)
        self.stats.flushes += 1
        await run_hooks(self._hooks, changes)

    async def _log_streamer(self) -> None:
        while True:
            await asyncio.sleep(LIVE_LOGS_S)
            try:
                await self._stream_logs()
            except Exception as exc:  # the lines stay; the next round or the outcome has them
                log.warning("writing running jobs' log lines failed: %s", exc)

    async def _stream_logs(self) -> None:
        """Write the lines running jobs logged since the last round.

        Under the recorder's lock, so a run that ends meanwhile is recorded after this
        write and writes only the lines after :attr:`_Run.logged`: none twice, none lost.
        """
        async with self._flush_lock:
            marks: list[tuple[_Run, int]] = []
            lines: list[tuple[int, int, datetime, str, str]] = []
            for run in self._runs.values():
                new = run.ctx.logs[run.logged :]  # a copy: the job's thread may append
                if new:
                    c = run.claimed
                    lines += [(c.id, c.attempt, at, lvl, msg) for at, lvl, msg in new]
                    marks.append((run, run.logged + len(new)))
            if not lines:
                return
            await self._db.run(lambda conn: store.insert_logs(conn, lines))
            for run, logged in marks:
                run.logged = logged

    # -- heartbeat and control ----------------------------------------------------

    def _current_rss(self) -> int:
        with contextlib.suppress(psutil.Error):
            self._rss = self._process.memory_info().rss
        return self._rss

    async def _heartbeat_loop(self) -> None:
        self._process.cpu_percent(None)
        while True:
            if self._supervisor_pid is not None and os.getppid() != self._supervisor_pid:
                self.request_stop(f"its supervisor (pid {self._supervisor_pid}) is gone")
            try:
                await self._heartbeat()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("heartbeat failed: %s", exc)
            await asyncio.sleep(self.options.heartbeat_s)

    async def _heartbeat(self) -> None:
        running = self._ex.started()
        state = "draining" if self._stop.is_set() else ("busy" if running else "idle")
        beat = WorkerBeat(
            self.id,
            self.settings.host,
            os.getpid(),
            tuple(self.options.queues),
            state=state,
            current_job_id=running[0].job_id if running else None,
            rss_bytes=self._current_rss(),
            cpu_percent=self._process.cpu_percent(None),
            jobs_done=self.stats.done,
            jobs_failed=self.stats.failed,
            prefetch_in_flight=self._ex.pending(),
            supervisor_id=self.options.supervisor_id,
            max_memory_mb=self.options.max_memory_mb,
            cpus=self.options.cpus,
            cpu_requested=self._cpu_requested,
            memory_requested_mb=self._memory_requested_mb,
        )
        runs = [(ctx.job_id, ctx.attempt) for ctx in self._ex.running()]
        runs += [(c.id, c.attempt) for c in self._waiting]

        async def beat_and_check(conn: Any) -> tuple[bool, list[tuple[int, int]]]:
            alive = await store.heartbeat(conn, self.id, beat)
            return alive, await store.not_mine(conn, runs)

        alive, lost = await self._db.run(beat_and_check)
        if not alive and not self._stop.is_set():
            log.warning("worker %s was presumed lost; registering again", self.id)
            await self._register()
        if lost and self._waiting:  # held runs cancelled meanwhile never start
            gone = set(lost)
            self._waiting = [c for c in self._waiting if (c.id, c.attempt) not in gone]
        for job_id, attempt in lost:  # cancelled or rescued elsewhere: stop the work
            await self._ex.stop_job(job_id, attempt)
        for hook in self._hooks:
            beat_fn = getattr(hook, "heartbeat", None)
            if beat_fn is not None:
                with contextlib.suppress(Exception):
                    await beat_fn(beat)

    async def _on_control(self, command: dict[str, Any]) -> None:
        cmd = command.get("cmd")
        if cmd == "stop_job":
            job_id, attempt = command.get("job_id"), command.get("attempt")
            if isinstance(job_id, int):
                await self._ex.stop_job(job_id, attempt if isinstance(attempt, int) else None)
        elif cmd == "recycle" and command.get("worker_id") == self.id:
            self.request_stop("recycled by operator", EXIT_REPLACE)


class _ClientOnDemand:
    """The worker's :class:`~engine.client.Client`, made when a handler first uses it.

    Few handlers submit work. The client module (submission, operations, cron) and
    a Client's SQLAlchemy engine, with the ORM its asyncio extension imports, would
    otherwise stay resident in every worker.
    """

    def __init__(self, settings: Settings, hooks: Sequence[AfterCommit]) -> None:
        self._settings = settings
        self._hooks = hooks
        self._client: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._client is None:
            from engine.client import Client

            self._client = Client(self._settings, hooks=self._hooks)
        return getattr(self._client, name)

    async def close(self) -> None:
        """Close the client's connections, if it was ever made."""
        if self._client is not None:
            await self._client.close()


def _jsonable(value: Any) -> Any:
    """Results are stored as JSON; anything else is kept as its text."""
    import json

    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return {"repr": repr(value)[:2000]}
