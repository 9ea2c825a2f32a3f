"""Every change the console can make, in one place that enforces ``--read-only``.

Keys, palette entries and confirmation dialogs all end in a method of
:class:`ActionService`; each mutating method checks read-only mode first and
refuses with a notification, so no path through the UI (or a test calling the
method directly) can change the engine when the console was opened read-only.
Outcomes are reported as notifications, with job text kept literal.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from textual.notifications import SeverityLevel

from engine.errors import EngineError, IllegalTransition, JobNotFound
from engine.snapshots import BulkAction, BulkPreview, GroupRetryPreview, JobFilter, JobRef
from queueconsole.console.link import EngineLink

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


READ_ONLY_FLAG = "started with --read-only"
"""Why a console is read-only unless told otherwise."""


class ActionService:
    """Retry, cancel, scale, recycle, pause and resume — or refuse to.

    Args:
        link: the engine to act on.
        read_only: refuse every change.
        notify: how outcomes are shown (the app's ``notify``).
        read_only_reason: why, as a refusal says it: the flag, or (in a browser) the
            token's scope, so the user knows what would lift it.
    """

    def __init__(
        self,
        link: EngineLink,
        *,
        read_only: bool,
        notify: Notify,
        read_only_reason: str = READ_ONLY_FLAG,
    ) -> None:
        self.link = link
        self.read_only = read_only
        self.read_only_reason = read_only_reason
        self._notify = notify

    # -- guards -------------------------------------------------------------

    def refuse(self, what: str) -> Outcome | None:
        """An outcome refusing ``what`` in read-only mode (notified), else None."""
        if not self.read_only:
            return None
        message = f"read-only: {what} is disabled ({self.read_only_reason})"
        self._notify(message, "warning")
        return Outcome(False, message, refused=True)

    def _done(self, message: str) -> Outcome:
        self._notify(message, "information")
        return Outcome(True, message)

    def _failed(self, message: str) -> Outcome:
        self._notify(message, "error")
        return Outcome(False, message)

    async def _run(self, what: str, fn: Callable[[], Awaitable[object]], success: str) -> Outcome:
        """Run one engine call, turning engine errors into a notification."""
        refused = self.refuse(what)
        if refused is not None:
            return refused
        try:
            await fn()
        except (IllegalTransition, JobNotFound) as exc:
            return self._failed(str(exc))
        except EngineError as exc:
            return self._failed(self.link.settings.redact(str(exc)))
        except Exception as exc:  # the link's own failure (e.g. the broker): report, go on
            log.exception("%s failed", what)
            return self._failed(
                f"{what} failed: " + self.link.settings.redact(f"{type(exc).__name__}: {exc}")
            )
        return self._done(success)

    # -- previews (reads: allowed when read-only) -----------------------------

    async def preview_cancel(self, job_id: int) -> list[JobRef]:
        """Jobs a cancel of ``job_id`` would block."""
        return await self.link.client.preview_cancel(job_id)

    async def preview_retry(self, job_id: int) -> list[JobRef]:
        """Blocked jobs a retry of ``job_id`` may release."""
        return await self.link.client.preview_retry(job_id)

    async def preview_retry_group(self, fingerprint: str) -> GroupRetryPreview:
        """A failure group's FAILED jobs now, and the blocked jobs its retry may release."""
        return await self.link.client.preview_retry_group(fingerprint)

    # -- job actions -------------------------------------------------------------

    async def retry(self, job_id: int) -> Outcome:
        """Run a failed or cancelled job again, or a retrying one now."""
        return await self._run(
            f"retry of job {job_id}",
            lambda: self.link.client.retry(job_id, "retried from the console"),
            f"job {job_id} retried",
        )

    async def cancel(self, job_id: int) -> Outcome:
        """Cancel a live job; its pending dependents become blocked."""
        return await self._run(
            f"cancel of job {job_id}",
            lambda: self.link.client.cancel(job_id, "cancelled from the console"),
            f"job {job_id} cancelled",
        )

    async def retry_group(self, fingerprint: str) -> Outcome:
        """Retry every FAILED job of a failure group, chosen by the engine by its key.

        A job that changed state meanwhile (someone retried it already) is
        skipped and counted, not treated as a failure of the whole group.
        """
        refused = self.refuse("retry of a failure group")
        if refused is not None:
            return refused
        try:
            done = await self.link.client.retry_group(fingerprint, "retried with its failure group")
        except EngineError as exc:
            return self._failed(self.link.settings.redact(str(exc)))
        n = done.retried
        suffix = f" ({done.skipped} had changed state and were skipped)" if done.skipped else ""
        return self._done(f"retried {n} job{'s' if n != 1 else ''}{suffix}")

    # -- the dead-letter queue ------------------------------------------------------------

    async def preview_purge_dead(self) -> int:
        """Failures with a copy in the dead-letter queue, as last swept (a purge's preview)."""
        return await self.link.client.dead_count()

    async def replay_dead(self, job_ids: list[int], group: str | None = None) -> Outcome:
        """Replay dead-lettered jobs (by id, or a failure group) and drop their copies."""
        refused = self.refuse("replay from the dead-letter queue")
        if refused is not None:
            return refused
        try:
            done = await self.link.client.replay_dead(job_ids, group=group)
        except EngineError as exc:
            return self._failed(self.link.settings.redact(str(exc)))
        n = done.replayed
        copies = (
            "their dead-letter copies go once RabbitMQ answers"
            if done.sweep is None
            else f"{done.sweep.removed} dead-letter cop{'ies' if done.sweep.removed != 1 else 'y'}"
            " removed"
        )
        return self._done(f"replayed {n} job{'s' if n != 1 else ''}; {copies}")

    async def purge_dead(self) -> Outcome:
        """Remove every copy from the dead-letter queue (PostgreSQL keeps the failures)."""
        refused = self.refuse("purge of the dead-letter queue")
        if refused is not None:
            return refused
        try:
            done = await self.link.client.purge_dead()
        except EngineError as exc:
            return self._failed(self.link.settings.redact(str(exc)))
        return self._done(
            f"purged {done.sweep.removed} dead-letter copies; the failures stay in PostgreSQL"
        )

    # -- queues and workers ------------------------------------------------------------

    async def scale(self, queue: str, workers: int, *, host: str | None = None) -> Outcome:
        """Run ``workers`` worker processes on ``queue`` (only on ``host`` when given)."""
        workers = max(0, min(MAX_WORKERS_PER_QUEUE, workers))
        where = f" on {host}" if host is not None else ""
        return await self._run(
            f"scaling queue {queue}{where}",
            lambda: self.link.scale(queue, workers, host=host),
            f"queue {queue}{where}: {workers} worker{'s' if workers != 1 else ''} requested",
        )

    async def recycle(self, worker_id: str) -> Outcome:
        """Replace a worker after its current job."""
        return await self._run(
            f"recycling worker {worker_id}",
            lambda: self.link.recycle(worker_id),
            f"worker {worker_id} will be recycled after its current job",
        )

    async def pause(self, queue: str) -> Outcome:
        """Stop workers claiming from ``queue``."""
        return await self._run(
            f"pausing queue {queue}",
            lambda: self.link.pause(queue),
            f"queue {queue} paused",
        )

    async def resume(self, queue: str) -> Outcome:
        """Let workers claim from ``queue`` again."""
        return await self._run(
            f"resuming queue {queue}",
            lambda: self.link.resume(queue),
            f"queue {queue} resumed",
        )

    # -- schedules --------------------------------------------------------------------

    async def pause_schedule(self, name: str) -> Outcome:
        """Stop a schedule firing until it is resumed."""
        return await self._run(
            f"pausing schedule {name}",
            lambda: self.link.client.pause_schedule(name),
            f"schedule {name} paused",
        )

    async def resume_schedule(self, name: str) -> Outcome:
        """Fire a paused schedule again, from its next tick after now."""
        return await self._run(
            f"resuming schedule {name}",
            lambda: self.link.client.resume_schedule(name),
            f"schedule {name} resumed",
        )

    async def fire_schedule(self, name: str) -> Outcome:
        """Submit a schedule's job now; its ticks go on as before."""
        refused = self.refuse(f"firing schedule {name}")
        if refused is not None:
            return refused
        try:
            fired = await self.link.client.fire_schedule(name)
        except EngineError as exc:
            return self._failed(self.link.settings.redact(str(exc)))
        return self._done(f"schedule {name} fired now: job {fired.job_id}")

    # -- bulk ---------------------------------------------------------------------------

    async def preview_bulk(
        self, action: BulkAction, *, flt: JobFilter | None, ids: Sequence[int] | None
    ) -> BulkPreview:
        """How many jobs a bulk action would take, and the dependents it would change."""
        return await self.link.client.preview_bulk(action, flt=flt, ids=ids)

    async def bulk(
        self, action: BulkAction, *, flt: JobFilter | None, ids: Sequence[int] | None
    ) -> Outcome:
        """Retry or cancel the selection in committed batches."""
        refused = self.refuse(f"bulk {action}")
        if refused is not None:
            return refused
        try:
            done = await self.link.client.bulk(
                action, flt=flt, ids=ids, reason=f"{action} in bulk from the console"
            )
        except EngineError as exc:
            return self._failed(self.link.settings.redact(str(exc)))
        past = "retried" if action == "retry" else "cancelled"
        what = "released" if action == "retry" else "blocked"
        message = f"{past} {done.done:,} job{'s' if done.done != 1 else ''}"
        if done.dependents:
            message += f", {done.dependents:,} dependents {what}"
        if done.skipped:
            message += f" ({done.skipped:,} had changed state and were skipped)"
        return self._done(message)
