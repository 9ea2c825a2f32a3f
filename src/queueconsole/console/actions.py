"""Every change the console can make, in one place that enforces ``--read-only``.

Keys, palette entries and confirmation dialogs all end in a method of
:class:`ActionService`; each mutating method checks read-only mode first and
refuses with a notification, so no path through the UI (or a test calling the
method directly) can change the engine when the console was opened read-only.
Outcomes are reported as notifications, with job text kept literal.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from textual.notifications import SeverityLevel

from engine.errors import EngineError, IllegalTransition, JobNotFound
from engine.snapshots import JobRef
from queueconsole.console.backend import Backend

log = logging.getLogger(__name__)

Notify = Callable[[str, SeverityLevel], None]
"""``notify(message, severity)``: the app's ``notify`` without markup."""

MAX_WORKERS_PER_QUEUE = 64  # a typo of "+" held down must not fork hundreds of processes


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an action did."""

    ok: bool
    message: str
    refused: bool = False
    """True when read-only mode stopped the action before it touched anything."""


class ActionService:
    """Retry, cancel, scale, recycle, pause and resume — or refuse to.

    Args:
        backend: the engine to act on.
        read_only: refuse every change.
        notify: how outcomes are shown (the app's ``notify``).
    """

    def __init__(self, backend: Backend, *, read_only: bool, notify: Notify) -> None:
        self.backend = backend
        self.read_only = read_only
        self._notify = notify

    # -- guards -------------------------------------------------------------

    def refuse(self, what: str) -> Outcome | None:
        """An outcome refusing ``what`` in read-only mode (notified), else None."""
        if not self.read_only:
            return None
        message = f"read-only: {what} is disabled (started with --read-only)"
        self._notify(message, "warning")
        return Outcome(False, message, refused=True)

    def _done(self, message: str) -> Outcome:
        self._notify(message, "information")
        return Outcome(True, message)

    def _failed(self, message: str) -> Outcome:
        self._notify(message, "error")
        return Outcome(False, message)

    async def _run(self, what: str, fn: Callable[[], object], success: str) -> Outcome:
        """Run one engine call, turning engine errors into a notification."""
        refused = self.refuse(what)
        if refused is not None:
            return refused
        try:
            result = fn()
            if hasattr(result, "__await__"):
                await result
        except (IllegalTransition, JobNotFound) as exc:
            return self._failed(str(exc))
        except EngineError as exc:
            return self._failed(self.backend.settings.redact(str(exc)))
        except Exception as exc:  # an adapter's own failure (e.g. the broker): report, go on
            log.exception("%s failed", what)
            return self._failed(
                f"{what} failed: " + self.backend.settings.redact(f"{type(exc).__name__}: {exc}")
            )
        return self._done(success)

    # -- previews (reads: allowed when read-only) -----------------------------

    async def preview_cancel(self, job_id: int) -> list[JobRef]:
        """Jobs a cancel of ``job_id`` would block."""
        return await self.backend.client.preview_cancel(job_id)

    async def preview_retry(self, job_id: int) -> list[JobRef]:
        """Blocked jobs a retry of ``job_id`` may release."""
        return await self.backend.client.preview_retry(job_id)

    # -- job actions -------------------------------------------------------------

    async def retry(self, job_id: int) -> Outcome:
        """Run a failed or cancelled job again, or a retrying one now."""
        return await self._run(
            f"retry of job {job_id}",
            lambda: self.backend.client.retry(job_id, "retried from the console"),
            f"job {job_id} retried",
        )

    async def cancel(self, job_id: int) -> Outcome:
        """Cancel a live job; its pending dependents become blocked."""
        return await self._run(
            f"cancel of job {job_id}",
            lambda: self.backend.client.cancel(job_id, "cancelled from the console"),
            f"job {job_id} cancelled",
        )

    async def retry_many(self, job_ids: Sequence[int], label: str = "group") -> Outcome:
        """Retry several jobs (a failure group); each is its own transaction.

        A job that changed state meanwhile (someone retried it already) is
        skipped and counted, not treated as a failure of the whole group.
        """
        refused = self.refuse(f"retry of a failure {label}")
        if refused is not None:
            return refused
        done = skipped = 0
        for job_id in job_ids:
            try:
                await self.backend.client.retry(job_id, f"retried with its failure {label}")
                done += 1
            except (IllegalTransition, JobNotFound):
                skipped += 1
            except EngineError as exc:
                return self._failed(
                    f"retried {done} of {len(job_ids)}, then: "
                    + self.backend.settings.redact(str(exc))
                )
        suffix = f" ({skipped} had changed state and were skipped)" if skipped else ""
        return self._done(f"retried {done} job{'s' if done != 1 else ''}{suffix}")

    # -- queues and workers ------------------------------------------------------------

    async def scale(self, queue: str, workers: int) -> Outcome:
        """Run ``workers`` worker processes on ``queue``."""
        workers = max(0, min(MAX_WORKERS_PER_QUEUE, workers))
        return await self._run(
            f"scaling queue {queue}",
            lambda: self.backend.scale(queue, workers),
            f"queue {queue}: {workers} worker{'s' if workers != 1 else ''} requested",
        )

    async def recycle(self, worker_id: str) -> Outcome:
        """Replace a worker after its current job."""
        return await self._run(
            f"recycling worker {worker_id}",
            lambda: self.backend.recycle(worker_id),
            f"worker {worker_id} will be recycled after its current job",
        )

    async def pause(self, queue: str) -> Outcome:
        """Stop workers claiming from ``queue``."""
        return await self._run(
            f"pausing queue {queue}",
            lambda: self.backend.pause(queue),
            f"queue {queue} paused",
        )

    async def resume(self, queue: str) -> Outcome:
        """Let workers claim from ``queue`` again."""
        return await self._run(
            f"resuming queue {queue}",
            lambda: self.backend.resume(queue),
            f"queue {queue} resumed",
        )
