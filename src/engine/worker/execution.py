"""Running handlers so that a timeout or a cancel really stops them, without a round trip
to the event loop per job.

Plain handlers run on threads of our own (not a ThreadPoolExecutor, whose
threads must never see an injected exception). Jobs are queued to a thread
and run back to back; each outcome is handed to the event loop through one
shared wake-up, so a burst of short jobs costs one loop iteration, not one
per job. A watchdog on the loop enforces timeouts from the moment a job
really starts: it raises :class:`JobInterrupted` inside the thread, and if a
handler blocked in C code ignores that for the grace period, the executor
declares itself stuck — the worker then records the timeout and exits so its
supervisor starts a fresh process, the only way to take a slot back.
"""

from __future__ import annotations

import asyncio
import collections
import ctypes
import queue
import resource
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from engine.worker.registry import JobContext, JobInterrupted, JobType

_set_async_exc = ctypes.pythonapi.PyThreadState_SetAsyncExc
_set_async_exc.argtypes = (ctypes.c_ulong, ctypes.py_object)
_set_async_exc.restype = ctypes.c_int
_clear_async_exc = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p)(
    ("PyThreadState_SetAsyncExc", ctypes.pythonapi)
)
"""The same C function called with NULL, which clears a pending exception."""

WATCH_S = 0.05
"""How often the watchdog looks at running jobs' clocks and the process's memory."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one run ended."""

    kind: str
    """``ok``, ``error``, ``timeout``, ``interrupted`` (cancelled or stopped), or
    ``not_started`` (it never began: hand it back)."""
    result: Any = None
    error_type: str | None = None
    error_message: str | None = None
    traceback: str | None = None
    cpu_time_s: float | None = None
    peak_rss_bytes: int | None = None
    run_s: float = 0.0
    """Wall time from the handler's start to its end."""


OnDone = Callable[[JobContext, Outcome], None]


def _max_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


_PAGE = resource.getpagesize()


def _current_rss_bytes() -> int:
    """Resident memory now, from /proc (a few microseconds; 0 where there is none)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0


def _error_outcome(exc: BaseException) -> Outcome:
    return Outcome(
        "error",
        error_type=type(exc).__name__,
        error_message=str(exc)[:4000] or type(exc).__name__,
        traceback="".join(traceback.format_exception(exc))[-20000:],
    )


def _timeout_outcome(ctx: JobContext, *, stuck: bool) -> Outcome:
    message = f"exceeded its timeout of {ctx.timeout_s:g} s"
    if stuck:
        message += "; the handler did not stop, so its worker process is replaced"
    return Outcome("timeout", error_type="JobTimeout", error_message=message)


@dataclass
class _Run:
    """One submitted job and what the executor knows about it."""

    ctx: JobContext
    jt: JobType
    started: float | None = None
    """time.monotonic() when the handler began; None while it waits."""
    timed_out: bool = False
    interrupted_at: float | None = None
    abandoned: bool = False
    """Its outcome was already given (stuck handler); a late one is ignored."""
    task: asyncio.Task[Any] | None = None
    thread: JobThread | None = None
    peak_rss: int = 0
    """Highest resident memory the watchdog saw while the handler ran."""


class JobThread(threading.Thread):
    """Runs sync handlers one after another; its current one can be interrupted."""

    def __init__(self, name: str, deliver: Callable[[_Run, Outcome], None]) -> None:
        super().__init__(name=name, daemon=True)
        self.inbox: queue.SimpleQueue[_Run | None] = queue.SimpleQueue()
        self.queued = 0
        """Runs put in the inbox and not yet taken (read on the loop thread)."""
        self._deliver = deliver
        self._lock = threading.Lock()
        self.current: _Run | None = None

    def run(self) -> None:
        while True:
            try:
                run = self.inbox.get()
            except JobInterrupted:  # pragma: no cover - cleared under the lock
                continue
            if run is None:
                return
            self.queued -= 1
            if run.ctx.stop_requested.is_set():
                self._deliver(run, Outcome("not_started"))
                continue
            self._run_one(run)

    def _run_one(self, run: _Run) -> None:
        outcome: Outcome
        rss_before = _max_rss_bytes()
        cpu_start = time.thread_time()
        began = time.monotonic()
        try:
            try:
                with self._lock:
                    self.current = run
                    run.started = began
                result = run.jt.handler(run.ctx)
                outcome = Outcome("ok", result=result)
            finally:
                with self._lock:
                    self.current = None
                    _clear_async_exc(self.ident or 0, None)  # drop an interrupt that came late
        except JobInterrupted:
            outcome = Outcome("interrupted")
        except BaseException as exc:  # a handler's failure of any kind is its outcome
            outcome = _error_outcome(exc)
        rss_after = _max_rss_bytes()
        self._deliver(
            run,
            replace(
                outcome,
                cpu_time_s=time.thread_time() - cpu_start,
                run_s=time.monotonic() - began,
                peak_rss_bytes=rss_after if rss_after > rss_before else None,
            ),
        )

    def interrupt(self, run: _Run) -> bool:
        """Raise JobInterrupted in this thread if it is still running ``run``."""
        run.ctx.stop_requested.set()
        with self._lock:
            if self.current is not run or self.ident is None:
                return False
            # ctypes gives back Any: the C function returns how many threads it changed.
            return int(_set_async_exc(self.ident, JobInterrupted)) == 1


class Executor:
    """Runs jobs on ``concurrency`` job threads (sync) or the loop (async).

    :meth:`submit` returns at once; ``on_done(ctx, outcome)`` is called on the
    event loop when each job ends, in the order they end.
    """

    def __init__(self, concurrency: int, *, on_done: OnDone, grace_s: float = 2.0) -> None:
        self.grace_s = grace_s
        self._on_done = on_done
        self._loop = asyncio.get_running_loop()
        self._threads = [JobThread(f"job-{i}", self._from_thread) for i in range(concurrency)]
        for t in self._threads:
            t.start()
        self._runs: dict[int, _Run] = {}
        self._outbox: collections.deque[tuple[_Run, Outcome]] = collections.deque()
        self._wake_pending = False
        self._watching = False
        self._idle = asyncio.Event()
        self._idle.set()
        self.stuck = False
        """Set once a handler ignored its interrupt: the process must be replaced."""

    # -- submitting ------------------------------------------------------------

    def submit(self, jt: JobType, ctx: JobContext) -> None:
        """Queue a job; its outcome arrives through ``on_done``."""
        run = _Run(ctx, jt)
        self._runs[ctx.job_id] = run
        self._idle.clear()
        if jt.is_async:
            run.started = time.monotonic()
            run.task = self._loop.create_task(self._run_async(run))
        else:
            thread = min(self._threads, key=lambda t: t.queued + (t.current is not None))
            run.thread = thread
            thread.queued += 1
            thread.inbox.put(run)
        self._watch_soon()

    async def run(self, jt: JobType, ctx: JobContext) -> Outcome:
        """Submit one job and wait for its outcome (tests and one-off runs)."""
        fut: asyncio.Future[Outcome] = self._loop.create_future()
        previous = self._on_done

        def done(c: JobContext, o: Outcome) -> None:
            if c is ctx and not fut.done():
                fut.set_result(o)
            elif c is not ctx:
                previous(c, o)

        self._on_done = done
        try:
            self.submit(jt, ctx)
            return await fut
        finally:
            self._on_done = previous

    # -- outcomes ----------------------------------------------------------------

    def _from_thread(self, run: _Run, outcome: Outcome) -> None:
        """Called on a job thread: queue the outcome, wake the loop once per burst."""
        self._outbox.append((run, outcome))
        if not self._wake_pending:
            self._wake_pending = True
            self._loop.call_soon_threadsafe(self._drain_outbox)

    def _drain_outbox(self) -> None:
        self._wake_pending = False
        while self._outbox:
            run, outcome = self._outbox.popleft()
            self._finish(run, outcome)

    def _finish(self, run: _Run, outcome: Outcome) -> None:
        if run.abandoned:
            return
        peak = max(outcome.peak_rss_bytes or 0, run.peak_rss)
        if peak:
            outcome = replace(outcome, peak_rss_bytes=peak)
        if run.timed_out and outcome.kind in ("interrupted", "ok", "error"):
            # Stopped because of its timeout (or finished just as it fired): a timeout.
            outcome = replace(
                _timeout_outcome(run.ctx, stuck=False),
                cpu_time_s=outcome.cpu_time_s,
                run_s=outcome.run_s,
                peak_rss_bytes=outcome.peak_rss_bytes,
            )
        elif outcome.kind == "ok" and run.ctx.stop_requested.is_set():
            outcome = replace(outcome, kind="interrupted")
        self._runs.pop(run.ctx.job_id, None)
        if not self._runs:
            self._idle.set()
        self._on_done(run.ctx, outcome)

    # -- async handlers -------------------------------------------------------------

    async def _run_async(self, run: _Run) -> None:
        ctx = run.ctx
        cpu_start = time.process_time()
        began = time.monotonic()
        try:
            async with asyncio.timeout(ctx.timeout_s):
                result = await run.jt.handler(ctx)
            outcome = Outcome("ok", result=result)
        except TimeoutError:
            outcome = (
                _timeout_outcome(ctx, stuck=False)
                if ctx.timeout_s is not None and time.monotonic() - began >= ctx.timeout_s
                else _error_outcome(TimeoutError("the handler raised TimeoutError"))
            )
        except asyncio.CancelledError:
            outcome = Outcome("interrupted")
        except Exception as exc:
            outcome = _error_outcome(exc)
        self._finish(
            run,
            replace(
                outcome,
                cpu_time_s=time.process_time() - cpu_start,
                run_s=time.monotonic() - began,
            ),
        )

    # -- stopping ------------------------------------------------------------------

    async def stop_job(self, job_id: int, attempt: int | None = None) -> bool:
        """Stop a job (cancelled elsewhere): a waiting one never starts, a running one is
        interrupted; its outcome is ``not_started`` or ``interrupted``."""
        run = self._runs.get(job_id)
        if run is None or (attempt is not None and run.ctx.attempt != attempt):
            return False
        self._interrupt(run)
        return True

    def _interrupt(self, run: _Run) -> None:
        run.ctx.stop_requested.set()
        if run.interrupted_at is None:
            run.interrupted_at = time.monotonic()
        if run.task is not None:
            run.task.cancel()
        elif run.thread is not None:
            run.thread.interrupt(run)
        self._watch_soon()

    def unstarted(self) -> list[JobContext]:
        """Stop every job that has not begun and return them (a draining worker hands
        them back). They will never start."""
        found = []
        for run in self._runs.values():
            if run.started is None and run.task is None:
                run.ctx.stop_requested.set()
                run.abandoned = True
                found.append(run.ctx)
        for ctx in found:
            self._runs.pop(ctx.job_id, None)
        if not self._runs:
            self._idle.set()
        return found

    def running(self) -> list[JobContext]:
        """Every job submitted and not finished (waiting or running)."""
        return [run.ctx for run in self._runs.values()]

    def started(self) -> list[JobContext]:
        """The jobs whose handler is running now."""
        return [run.ctx for run in self._runs.values() if run.started is not None]

    def pending(self) -> int:
        """How many jobs are submitted and not finished."""
        return len(self._runs)

    async def wait_idle(self) -> None:
        """Return once no job is waiting or running."""
        await self._idle.wait()

    def abandon(self, job_ids: list[int]) -> None:
        """Forget these runs: whatever they report later is ignored."""
        for job_id in job_ids:
            run = self._runs.pop(job_id, None)
            if run is not None:
                run.abandoned = True
                self._interrupt(run)
        if not self._runs:
            self._idle.set()

    # -- the watchdog -------------------------------------------------------------------

    def _watch_soon(self) -> None:
        if not self._watching:
            self._watching = True
            self._loop.call_later(WATCH_S, self._watch)

    def _watch(self) -> None:
        """Enforce timeouts and notice handlers that ignore their interrupt."""
        self._watching = False
        now = time.monotonic()
        rss = _current_rss_bytes() if self._runs else 0
        for run in list(self._runs.values()):
            if run.started is None:
                continue
            run.peak_rss = max(run.peak_rss, rss)
            timeout = run.ctx.timeout_s
            if timeout is not None and not run.timed_out and now - run.started >= timeout:
                run.timed_out = True
                self._interrupt(run)
            if run.interrupted_at is not None and now - run.interrupted_at >= self.grace_s:
                self._give_up(run)
        if self._runs:  # also samples memory, so a short spike still shows as the peak
            self._watch_soon()

    def _give_up(self, run: _Run) -> None:
        """A handler that did not stop: report it, and every job queued behind it."""
        self.stuck = True
        outcome = (
            _timeout_outcome(run.ctx, stuck=True)
            if run.timed_out
            else Outcome("interrupted", error_message="did not stop when cancelled")
        )
        self._finish(run, replace(outcome, run_s=time.monotonic() - (run.started or 0.0)))
        run.abandoned = True
        if run.thread is not None:
            for other in list(self._runs.values()):
                if other.thread is run.thread and other.started is None:
                    other.ctx.stop_requested.set()
                    self._finish(other, Outcome("not_started"))
                    other.abandoned = True

    def close(self) -> None:
        """Let idle threads end (busy ones are daemons and die with the process)."""
        for t in self._threads:
            t.inbox.put(None)
