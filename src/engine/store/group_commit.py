"""Group commit: one-job submissions from concurrent callers share one statement.

An application submits one job per event (a request, a message), often from
many tasks of one client at once. Each such submit through
:func:`~engine.store.submission.insert_jobs` costs a transaction of five round
trips and a commit (a flush of PostgreSQL's WAL to disk) of its own. Here a
plain job (no dependencies, no idempotency key) is written by
:data:`~engine.queries.jobs.JOB_SUBMIT_PLAIN`: job row, "submitted" event and
count delta in ONE statement that commits by itself — one round trip. While
that statement runs, the submits that arrive wait, and go together in the
next one: no timer, a batch is whatever queued up during the previous commit
(at most :data:`MAX_BATCH`). With one caller every batch holds one job.

Each caller still gets its own answer. Validation happens before a job joins a
batch (:func:`~engine.specs.prepare`); a job whose queue or tenant has a waiting
limit, or whose tenant is unknown, is left out of the statement and its caller
told so (``None``), to submit it in a transaction of its own where the limit is
checked under the queue's and tenant's locks; and
if a shared statement fails for any reason but PostgreSQL being unreachable,
each job of that batch is tried again alone, so one job's failure is only its
own caller's.

A caller's ``submit`` returns only once the statement committed: the job, its
event and its count are durable before anyone hears of its id.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TypeAlias

from engine.db.connection import DatabaseHandle
from engine.errors import ServiceUnavailable
from engine.queries.jobs import JOB_SUBMIT_PLAIN
from engine.specs import PreparedJob
from engine.states import State
from engine.store.changes import ChangeSet, Runnable, Transition

MAX_BATCH = 500  # submissions sharing one statement at most (arrays of this many rows)

_Waiter: TypeAlias = tuple[PreparedJob, "asyncio.Future[int | None]"]


def is_plain(job: PreparedJob) -> bool:
    """True for a job this path writes: no dependencies, no idempotency key."""
    return not job.depends_on_ids and not job.depends_on_refs and job.idempotency_key is None


def plain_changes(job: PreparedJob, job_id: int) -> ChangeSet:
    """What a plain job's submission changed, for the after-commit hooks (as
    :func:`~engine.store.submission.insert_jobs` reports a QUEUED job)."""
    changes = ChangeSet()
    changes.transitions.append(
        Transition(job_id, job.queue, job.type, None, State.QUEUED, 0, reason="submitted")
    )
    changes.runnables.append(Runnable(job_id, 0, job.queue, int(job.priority)))
    return changes


class GroupCommitter:
    """Writes plain jobs, each caller's with those of the callers waiting alongside.

    Args:
        db: where to write; its :meth:`~engine.db.connection.DatabaseHandle.run_single`
            runs each batch's one statement.
        max_batch: jobs in one statement at most.
    """

    def __init__(self, db: DatabaseHandle, *, max_batch: int = MAX_BATCH) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, not {max_batch}")
        self.db = db
        self.max_batch = max_batch
        self._waiting: list[_Waiter] = []
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, job: PreparedJob) -> int | None:
        """Write ``job`` (see :func:`is_plain`) and return its id once committed, or None
        when its queue has a waiting limit (nothing was written).

        Raises what the write raised: :class:`~engine.errors.ServiceUnavailable` when
        PostgreSQL cannot be reached, and then nothing is known to be written.
        """
        future: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self._waiting.append((job, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_waiting(), name="submit:group-commit")
        return await future

    async def close(self) -> None:
        """Wait for the batch being written; the committer is not used after this."""
        if self._writer is not None and not self._writer.done():
            await asyncio.wait({self._writer})

    async def _write_waiting(self) -> None:
        """Write what waits, batch after batch, until nothing does (one task at a time)."""
        batch: list[_Waiter] = []
        try:
            while self._waiting:
                taken = self._waiting[: self.max_batch]
                del self._waiting[: self.max_batch]
                # A caller cancelled before its batch was taken has nothing written.
                batch = [w for w in taken if not w[1].done()]
                if batch:
                    await self._write_batch(batch)
                batch = []
        except BaseException:  # cancelled (the loop is closing): no caller may wait forever
            for _, future in [*batch, *self._waiting]:
                future.cancel()
            self._waiting = []
            raise

    async def _write_batch(self, batch: list[_Waiter]) -> None:
        try:
            ids = await self._insert([job for job, _ in batch])
        except ServiceUnavailable as exc:  # the same for every job: no point trying alone
            _fail_all(batch, exc)
            return
        except Exception as exc:
            if len(batch) == 1:
                _fail_all(batch, exc)
                return
            # Which job did the statement fail for? Each alone, so only its caller hears.
            for job, future in batch:
                try:
                    (job_id,) = await self._insert([job])
                except Exception as own:
                    if not future.done():
                        future.set_exception(own)
                else:
                    if not future.done():
                        future.set_result(job_id)
            return
        for (_, future), job_id in zip(batch, ids, strict=True):
            if not future.done():
                future.set_result(job_id)

    async def _insert(self, jobs: Sequence[PreparedJob]) -> list[int | None]:
        """One statement for ``jobs``: the id of each, None where its queue is limited."""
        params = _plain_params(jobs)
        rows = await self.db.run_single(lambda conn: conn.execute(JOB_SUBMIT_PLAIN, params))
        by_ord = {int(r[0]): int(r[1]) for r in rows}
        return [by_ord.get(i) for i in range(1, len(jobs) + 1)]


def _fail_all(batch: Sequence[_Waiter], exc: BaseException) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(exc)


def _plain_params(jobs: Sequence[PreparedJob]) -> dict[str, list[object]]:
    """The columns of JOB_SUBMIT_PLAIN, one array each."""
    return {
        "types": [j.type for j in jobs],
        "queues": [j.queue for j in jobs],
        "priorities": [int(j.priority) for j in jobs],
        "payloads": [j.payload_json for j in jobs],
        "max_retries": [j.max_retries for j in jobs],
        "backoffs_s": [j.backoff_s for j in jobs],
        "backoffs_max_s": [j.backoff_max_s for j in jobs],
        "timeouts_s": [j.timeout_s for j in jobs],
        "memory_mb": [j.memory_mb for j in jobs],
        "ttls_s": [j.ttl_s for j in jobs],
        "cpus": [j.cpu for j in jobs],
        "tenants": [j.tenant for j in jobs],
    }
