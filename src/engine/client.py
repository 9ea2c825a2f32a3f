"""The engine's Python API: submit work, change it, read it.

A :class:`Client` is what an application, the CLI and the console hold. It
commits each operation in one short transaction, then runs the after-commit
hooks (publisher, status cache) it was given.

A one-job submit without dependencies or idempotency key takes the group-commit
path (:mod:`engine.store.group_commit`): one statement on the raw driver, shared
with the submits of concurrent callers. With ``background_hooks`` (what
:func:`~engine.runtime.wiring.open_client` gives applications) a submission's
hooks run off the caller's path: ``submit`` returns once the commit is durable,
and :meth:`Client.close` waits for what is still being published.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING, Any

from engine.config import Settings
from engine.db.database import Database
from engine.db.driver import DriverDatabase
from engine.durations import parse_duration
from engine.errors import (
    EmptyFailureGroup,
    JobNotFound,
    ServiceUnavailable,
    UserError,
    ValidationError,
)
from engine.hooks import FLUSH_WAIT_S, AfterCommit, BackgroundHooks, run_hooks
from engine.maintenance import dead_letters, retention
from engine.maintenance import scheduler as schedule_ops
from engine.maintenance.retention import DEFAULT_BATCH, PruneResult
from engine.maintenance.scheduler import DEFAULT_TZ, Fired, ScheduleInfo
from engine.priority import Priority
from engine.queries.dead_letters import (
    DEAD_LETTER_COUNT,
    DEAD_LETTER_CUTOFF,
    DEAD_LETTER_IN_BROKER,
    DEAD_LETTER_LIST,
    DEAD_LETTER_MARK_PURGED,
    DEAD_LETTER_STATES,
)
from engine.queries.jobs import (
    JOB_DESCENDANTS,
    JOB_FAILED_GROUP_BLOCKED_DESCENDANTS,
    JOB_FAILED_GROUP_SIZE,
    JOB_GET,
    JOB_TENANT_OF,
    JOB_TENANT_OF_WORKFLOW,
    job_page_query,
)
from engine.queues import limits, pausing
from engine.queues.info import QueueInfo, list_queues
from engine.queues.pausing import PauseChange
from engine.readapi.dashboard import failure_groups
from engine.readapi.graph import DEFAULT_LIMIT as GRAPH_LIMIT
from engine.readapi.graph import default_workflow_job, workflow_graph, workflow_graph_by_id
from engine.readapi.history import history
from engine.readapi.jobs import job_detail, job_logs, job_page, queue_counts
from engine.readapi.replica import ReplicaReads
from engine.snapshots import (
    PREVIEW_ROOTS,
    BulkAction,
    BulkDone,
    BulkPreview,
    CreatedToken,
    DeadLetter,
    DeadPurged,
    DeadReplayed,
    DeadSweep,
    FailuresSection,
    GroupRetried,
    GroupRetryPreview,
    JobDetail,
    JobFilter,
    JobPage,
    JobRef,
    JobSort,
    LogPage,
    MinuteHistory,
    QueueCounts,
    ReadReplicaStatus,
    SortKey,
    TokenInfo,
    WorkflowGraph,
)
from engine.specs import (
    DEFAULT_TENANT,
    JobSpec,
    PreparedJob,
    check_workflow_name,
    prepare,
    storable,
)
from engine.states import TERMINAL, State
from engine.store import tokens, transitions
from engine.store.changes import ChangeSet
from engine.store.group_commit import GroupCommitter, is_plain, plain_changes
from engine.store.submission import Submission, Submitted, insert_jobs
from engine.store.transitions import BulkBatch
from engine.tenants import settings as tenant_settings
from engine.tenants.settings import TenantInfo

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

GROUP_RETRY_BATCH = 500  # jobs of a failure group retried per transaction (each short)
GROUP_PREVIEW_SAMPLE = 20  # job ids, and blocked dependents, a group's preview lists
DEAD_LIST_LIMIT = 1000  # failures ``dead_letters`` returns unless asked for another number
REPLAY_REASON = "replayed from the dead-letter queue"


@dataclass(frozen=True, slots=True)
class WorkflowSubmitted:
    """A submitted workflow: its id and, per ref, the job it became."""

    workflow_id: int | None
    jobs: Mapping[str, Submitted]

    @property
    def ids(self) -> dict[str, int]:
        """ref -> job id."""
        return {ref: s.id for ref, s in self.jobs.items()}


class Client:
    """Submit, cancel, retry and read jobs.

    Args:
        settings: the installation to talk to.
        database: share an existing pool (the console and workers do); by
            default the client opens its own and closes it in :meth:`close`.
        hooks: run after every commit, e.g. the broker publisher.
        background_hooks: run a submission's hooks off the caller's path (operator
            actions still wait for theirs); :meth:`close` waits for them.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        database: Database | None = None,
        hooks: Sequence[AfterCommit] = (),
        background_hooks: bool = False,
    ) -> None:
        self.settings = settings
        self._owns_db = database is None
        self.db = database if database is not None else Database(settings)
        self.reads: Database = ReplicaReads(self.db) if settings.read_database_url else self.db
        """Where the read methods' queries go: the read replica while it keeps up
        (``read_database_url``), else :attr:`db`. Writes and operator previews use ``db``."""
        self.hooks: list[AfterCommit] = list(hooks)
        self._background = BackgroundHooks(self.hooks) if background_hooks else None
        # The group-commit path's own small asyncpg pool (opened on the first submit):
        # one round trip per batch, without SQLAlchemy's per-statement work, and its one
        # statement (inserts, a lookup by primary key) planned once, not per submit:
        # planning it cost more than executing it (measured, 0.55 ms); nor does it leave
        # session state behind, so connections go back to the pool without a reset.
        self._driver = DriverDatabase(
            self.db.settings,
            pool_size=1,
            application_name="queueconsole-submit",
            operation_timeout_s=self.db.operation_timeout_s,
            plan_cache_mode="force_generic_plan",
            reset_sessions=False,
        )
        self._committer = GroupCommitter(self._driver)

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Wait (at most :data:`~engine.hooks.FLUSH_WAIT_S`) for hooks still running in
        the background, then release the connection pools this client opened."""
        if self._background is not None:
            await self._background.flush(FLUSH_WAIT_S)
        await self._committer.close()
        await self._driver.close()
        if self.reads is not self.db:
            await self.reads.close()
        if self._owns_db:
            await self.db.close()

    # -- submission ---------------------------------------------------------

    async def submit(
        self,
        type: str,
        payload: Mapping[str, Any] | None = None,
        *,
        queue: str | None = None,
        priority: Priority | str | None = None,
        depends_on: Sequence[int] = (),
        idempotency_key: str | None = None,
        max_retries: int = 3,
        timeout_s: float | None = None,
        memory_mb: int | None = None,
        ttl_s: float | None = None,
        backoff_s: float = 1.0,
        backoff_max_s: float = 300.0,
        cpu: float | None = None,
        tenant: str = DEFAULT_TENANT,
    ) -> Submitted:
        """Submit one job. With a key held by a live job, returns that job as a duplicate.

        ``queue`` and ``priority`` left as None come from the routing rules
        (``settings.routes``), else ``default`` and ``normal``.
        """
        spec = JobSpec(
            type=type,
            payload={} if payload is None else payload,
            queue=queue,
            priority=priority,
            # Anything but a list or tuple is left for validation to refuse by name.
            depends_on=tuple(depends_on) if isinstance(depends_on, list | tuple) else depends_on,
            idempotency_key=idempotency_key,
            max_retries=max_retries,
            timeout_s=timeout_s,
            memory_mb=memory_mb,
            ttl_s=ttl_s,
            backoff_s=backoff_s,
            backoff_max_s=backoff_max_s,
            cpu=cpu,
            tenant=tenant,
        )
        (job,) = prepare([spec], workflow=False, routes=self.settings.routes)
        if is_plain(job):
            job_id = await self._committer.submit(job)
            if job_id is not None:
                await self._after_submission(plain_changes(job, job_id))
                return Submitted(job.ref, job_id, State.QUEUED, False)
            # Its queue or tenant has a waiting limit (or the tenant is unknown): checked in a
            # transaction of its own, below.
        submission = await self._insert([job], workflow=False)
        return submission.jobs[0]

    async def submit_many(self, specs: Sequence[JobSpec]) -> list[Submitted]:
        """Submit independent jobs (or ones depending on existing ids) in one transaction."""
        submission = await self._submit(specs, workflow=False)
        order = {s.ref: s for s in submission.jobs}
        return [order[s.ref if s.ref is not None else f"#{i + 1}"] for i, s in enumerate(specs)]

    async def submit_workflow(
        self, specs: Sequence[JobSpec], *, name: str | None = None
    ) -> WorkflowSubmitted:
        """Submit jobs that refer to each other by ``ref``: all of them and their edges, or
        nothing. Cycles, unknown refs and unknown ids are refused before anything is written."""
        submission = await self._submit(specs, workflow=True, name=check_workflow_name(name))
        return WorkflowSubmitted(
            submission.workflow_id, MappingProxyType({s.ref: s for s in submission.jobs})
        )

    async def _submit(
        self, specs: Sequence[JobSpec], *, workflow: bool, name: str | None = None
    ) -> Submission:
        prepared = prepare(specs, workflow=workflow, routes=self.settings.routes)
        return await self._insert(prepared, workflow=workflow, name=name)

    async def _insert(
        self, prepared: list[PreparedJob], *, workflow: bool, name: str | None = None
    ) -> Submission:
        """Prepared jobs in one transaction, all or nothing."""

        async def work(conn: AsyncConnection) -> Submission:
            return await insert_jobs(conn, prepared, workflow_name=name, as_workflow=workflow)

        submission = await self.db.run(work)
        await self._after_submission(submission.changes)
        return submission

    async def _after_submission(self, changes: ChangeSet) -> None:
        """Hand a committed submission to the hooks: to the background ones at once,
        or, without ``background_hooks``, run them before returning."""
        if self._background is not None:
            self._background.put(changes)
        else:
            await run_hooks(self.hooks, changes)

    # -- operator actions ---------------------------------------------------

    async def cancel(self, job_id: int, reason: str = "cancelled by operator") -> ChangeSet:
        """Cancel a live job; dependents downstream become BLOCKED."""
        _check_id(job_id)
        changes = await self.db.run(lambda conn: transitions.cancel(conn, job_id, reason))
        await run_hooks(self.hooks, changes)
        return changes

    async def retry(self, job_id: int, reason: str = "retried by operator") -> ChangeSet:
        """Run a failed or cancelled job again (fresh attempt budget), or a retrying one now."""
        _check_id(job_id)
        changes = await self.db.run(lambda conn: transitions.retry(conn, job_id, reason))
        await run_hooks(self.hooks, changes)
        return changes

    async def preview_cancel(self, job_id: int) -> list[JobRef]:
        """The jobs a cancel would block: every PENDING job downstream."""
        return await self._downstream_in(job_id, State.PENDING)

    async def preview_retry(self, job_id: int) -> list[JobRef]:
        """The BLOCKED jobs downstream that a retry may release (each is re-checked then)."""
        return await self._downstream_in(job_id, State.BLOCKED)

    async def _downstream_in(self, job_id: int, state: State) -> list[JobRef]:
        async with self.db.connection() as conn:
            await _require_job(conn, job_id)
            return [
                JobRef(i, t, s)
                for i, s, t in await transitions.descendants(conn, job_id)
                if s is state
            ]

    async def preview_retry_group(
        self, fingerprint: str, *, sample: int = GROUP_PREVIEW_SAMPLE
    ) -> GroupRetryPreview:
        """What :meth:`retry_group` would retry now: the group's FAILED jobs (count and
        the newest ``sample`` ids) and the BLOCKED jobs downstream it may release.

        Raises :class:`~engine.errors.EmptyFailureGroup` when no FAILED job has that key.
        """
        _check_fingerprint(fingerprint)
        params = {"fingerprint": fingerprint, "sample": sample}
        async with self.db.connection() as conn:
            size = (await conn.execute(JOB_FAILED_GROUP_SIZE, params)).one()
            if not size.n:
                raise EmptyFailureGroup(fingerprint)
            blocked = (await conn.execute(JOB_FAILED_GROUP_BLOCKED_DESCENDANTS, params)).all()
        return GroupRetryPreview(
            fingerprint=fingerprint,
            count=int(size.n),
            newest_ids=tuple(int(i) for i in size.newest),
            blocked_count=int(blocked[0].total) if blocked else 0,
            blocked=tuple(JobRef(r.id, r.type, State(r.state)) for r in blocked),
        )

    async def retry_group(
        self, fingerprint: str, reason: str = "retried with its failure group"
    ) -> GroupRetried:
        """Retry every FAILED job of a failure group (the key the Failures pane shows,
        ``engine.snapshots.failure_group_key``), however many there are.

        The group is read from the database in id order, :data:`GROUP_RETRY_BATCH` jobs
        per transaction, each job through the same transition as :meth:`retry`; each
        batch's changes go to the hooks (publish, cache) once it has committed, so a
        large group neither holds one long transaction nor waits to start running.
        A job that fails again while later batches run is not retried a second time.
        Raises :class:`~engine.errors.EmptyFailureGroup` when no FAILED job has that key.
        """
        _check_fingerprint(fingerprint)
        after = 0
        retried = skipped = released = batches = 0

        async def next_batch(conn: AsyncConnection) -> transitions.GroupBatch:
            return await transitions.retry_failed_group(
                conn, fingerprint, after=after, limit=GROUP_RETRY_BATCH, reason=reason
            )

        while True:
            batch = await self.db.run(next_batch)
            if batch.last_id is None:
                break
            batches += 1
            await run_hooks(self.hooks, batch.changes)
            retried += batch.retried
            skipped += batch.skipped
            released += sum(1 for t in batch.changes.transitions if t.from_state is State.BLOCKED)
            after = batch.last_id
        if batches == 0:
            raise EmptyFailureGroup(fingerprint)
        return GroupRetried(fingerprint, retried, skipped, released, batches)

    async def preview_bulk(
        self,
        action: BulkAction,
        *,
        flt: JobFilter | None = None,
        ids: Sequence[int] | None = None,
    ) -> BulkPreview:
        """What :meth:`bulk` would do now: how many of the selected jobs (``ids``, else
        every job ``flt`` matches) it would act on, and the dependents it would block
        (cancel) or may release (retry). The count is exact at any size; dependents are
        followed for the first :data:`~engine.snapshots.PREVIEW_ROOTS` jobs."""
        terms = _bulk_terms(action, flt, ids)
        if terms is None:
            return BulkPreview(action, 0, 0, (), True)
        wanted = State.PENDING if action == "cancel" else State.BLOCKED
        async with self.db.connection() as conn:
            sql, params = job_page_query(limit=0, count=True, **terms)
            count = int(await conn.scalar(sql, params) or 0)
            sql, params = job_page_query(limit=PREVIEW_ROOTS + 1, descending=False, **terms)
            roots = [r.id for r in await conn.execute(sql, params)]
            exact = len(roots) <= PREVIEW_ROOTS
            roots = roots[:PREVIEW_ROOTS]
            rows = (await conn.execute(JOB_DESCENDANTS, {"ids": roots})).all() if roots else []
        selected = set(roots)
        affected = [
            JobRef(r.id, r.type, State(r.state))
            for r in rows
            if State(r.state) is wanted and r.id not in selected
        ]
        return BulkPreview(action, count, len(affected), tuple(affected[:12]), exact)

    async def bulk(
        self,
        action: BulkAction,
        *,
        flt: JobFilter | None = None,
        ids: Sequence[int] | None = None,
        reason: str | None = None,
    ) -> BulkDone:
        """Retry or cancel the selected jobs (``ids``, else every job ``flt`` matches),
        however many, in id order, :data:`GROUP_RETRY_BATCH` per transaction.

        Each job goes through the same transition as :meth:`retry` or :meth:`cancel`;
        each batch is committed and handed to the hooks (publish, stop, cache) before the
        next is read, so neither a long transaction nor the whole selection is ever held.
        A job whose state no longer allows the action when its turn comes is skipped.
        """
        terms = _bulk_terms(action, flt, ids)
        why = reason or ("retried in bulk" if action == "retry" else "cancelled in bulk")
        done = skipped = dependents = batches = 0
        after = 0
        while terms is not None:
            sql, params = job_page_query(
                limit=GROUP_RETRY_BATCH, descending=False, after=(after, after), **terms
            )
            async with self.db.connection() as conn:
                page = [r.id for r in await conn.execute(sql, params)]
            if not page:
                break

            async def one_batch(conn: AsyncConnection, page: list[int] = page) -> BulkBatch:
                return await transitions.act_on_each(conn, action, page, why)

            batch = await self.db.run(one_batch)
            await run_hooks(self.hooks, batch.changes)
            batches += 1
            done += batch.done
            skipped += batch.skipped
            chosen = set(page)
            dependents += sum(1 for t in batch.changes.transitions if t.job_id not in chosen)
            after = page[-1]
        return BulkDone(action, done, skipped, dependents, batches)

    # -- the dead-letter queue (engine.maintenance.dead_letters) -------------

    async def sweep_dead(self, *, wait_s: float = dead_letters.COMMAND_LEASE_WAIT_S) -> DeadSweep:
        """Read the broker's dead-letter queue now: remove the copies of failures that are
        over, record which failures have one. Waits up to ``wait_s`` for a sweep that
        another engine is running; raises ServiceUnavailable when RabbitMQ is down."""
        return await dead_letters.sweep(self.settings, self.db, wait_s=wait_s)

    async def dead_letters(
        self, *, fingerprint: str | None = None, limit: int = DEAD_LIST_LIMIT
    ) -> list[DeadLetter]:
        """FAILED jobs, newest first, each with whether the latest sweep found its copy in
        the broker (:meth:`sweep_dead` first for an answer of this moment)."""
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise UserError(f"limit {limit!r} must be a whole number of at least 1")
        if fingerprint is not None:
            _check_fingerprint(fingerprint)
        params = {"fingerprint": fingerprint, "limit": limit}
        async with self.db.connection() as conn:
            rows = (await conn.execute(DEAD_LETTER_LIST, params)).all()
        return [
            DeadLetter(
                job_id=r.id,
                type=r.type,
                queue=r.queue,
                attempts=r.attempts,
                failed_at=r.finished_at,
                error_type=r.error_type,
                error_message=r.error_message,
                fingerprint=r.fingerprint,
                in_broker=bool(r.in_broker),
            )
            for r in rows
        ]

    async def dead_in_broker(self, job_ids: Sequence[int]) -> frozenset[int]:
        """Which of these FAILED jobs have their copy in the broker (as last swept)."""
        ids = [i for i in dict.fromkeys(job_ids) if isinstance(i, int) and 0 < i < 2**63]
        if not ids:
            return frozenset()
        async with self.db.connection() as conn:
            rows = (await conn.execute(DEAD_LETTER_IN_BROKER, {"ids": ids})).all()
        return frozenset(int(r.id) for r in rows)

    async def dead_count(self) -> int:
        """Failures whose copy the latest sweep found in the broker (a purge's preview)."""
        async with self.db.connection() as conn:
            return int(await conn.scalar(DEAD_LETTER_COUNT) or 0)

    async def replay_dead(
        self, job_ids: Sequence[int] = (), *, group: str | None = None
    ) -> DeadReplayed:
        """Run dead-lettered (FAILED) jobs again with a fresh attempt budget, releasing
        their BLOCKED dependents as :meth:`retry` does, then remove their copies from the
        broker. Named ids are one transaction: an unknown id, or a job that is not FAILED,
        and nothing changes. ``group`` replays a failure group (:meth:`retry_group`).
        When RabbitMQ does not answer, the jobs still run and ``sweep`` is None: the
        engine's dead-letter service removes the copies once it answers."""
        if group is not None:
            if job_ids:
                raise UserError("replay either job ids or a --group, not both")
            done = await self.retry_group(group, REPLAY_REASON)
            return DeadReplayed(
                replayed=done.retried,
                job_ids=(),
                released=done.released,
                fingerprint=group,
                skipped=done.skipped,
                sweep=await self._sweep_after(),
            )
        ids = list(dict.fromkeys(job_ids))
        if not ids:
            raise UserError("name the jobs to replay (ids) or a failure group (--group FP)")
        for job_id in ids:
            _check_id(job_id)

        async def work(conn: AsyncConnection) -> ChangeSet:
            rows = (await conn.execute(DEAD_LETTER_STATES, {"ids": ids})).all()
            states = {int(r.id): State(r.state) for r in rows}
            unknown = [i for i in ids if i not in states]
            if unknown:
                raise (
                    JobNotFound(unknown[0])
                    if len(unknown) == 1
                    else UserError(f"jobs {', '.join(map(str, unknown))} do not exist")
                )
            alive = [f"{i} is {states[i].value}" for i in ids if states[i] is not State.FAILED]
            if alive:
                raise UserError(f"only failed jobs are dead-lettered: job {'; job '.join(alive)}")
            changes = ChangeSet()
            for job_id in sorted(ids):  # the order every multi-row writer locks in
                changes.extend(await transitions.retry(conn, job_id, REPLAY_REASON))
            return changes

        changes = await self.db.run(work)
        await run_hooks(self.hooks, changes)
        released = sum(1 for t in changes.transitions if t.from_state is State.BLOCKED)
        return DeadReplayed(
            replayed=len(ids),
            job_ids=tuple(sorted(ids)),
            released=released,
            sweep=await self._sweep_after(),
        )

    async def _sweep_after(self) -> DeadSweep | None:
        """A sweep after a committed change; None when RabbitMQ did not answer."""
        try:
            return await self.sweep_dead()
        except ServiceUnavailable:
            return None

    async def purge_dead(self, older_than: timedelta | str | None = None) -> DeadPurged:
        """Remove from the broker the dead-letter copies of failures older than
        ``older_than`` (all, when None); PostgreSQL keeps the failures themselves.

        Checks that RabbitMQ answers before recording anything; the purge is recorded
        first, then swept, so a copy a concurrent sweep held back goes in the next one."""
        age: timedelta | None = None
        if older_than is not None:
            age = (
                parse_duration(older_than, "--older-than")
                if isinstance(older_than, str)
                else older_than
            )
            if not isinstance(age, timedelta) or age <= timedelta(0):
                raise UserError(f"--older-than {older_than!r} must be a positive duration")
        await dead_letters.check_broker(self.settings)

        async def mark(conn: AsyncConnection) -> tuple[Any, int]:
            before = None
            if age is not None:
                before = await conn.scalar(DEAD_LETTER_CUTOFF, {"age_s": age.total_seconds()})
            marked = (await conn.execute(DEAD_LETTER_MARK_PURGED, {"before": before})).all()
            return before, len(marked)

        before, marked = await self.db.run(mark)
        return DeadPurged(marked=marked, before=before, sweep=await self.sweep_dead())

    # -- reads --------------------------------------------------------------

    async def job(self, job_id: int) -> JobDetail:
        """One job with its dependencies, events and logs."""
        _check_id(job_id)
        async with self.reads.connection() as conn:
            return await job_detail(conn, job_id)

    async def jobs(
        self,
        flt: JobFilter | None = None,
        *,
        limit: int = 50,
        before: int | None = None,
        sort: JobSort | None = None,
        after: SortKey | None = None,
    ) -> JobPage:
        """A page of jobs, newest first; or in ``sort``'s order, after the ``next_after``
        of the previous page."""
        async with self.reads.connection() as conn:
            return await job_page(
                conn, flt or JobFilter(), limit=limit, before=before, sort=sort, after=after
            )

    async def queue_counts(self) -> list[QueueCounts]:
        """Jobs per state for every queue."""
        async with self.reads.connection() as conn:
            return await queue_counts(conn)

    async def history(self, window: timedelta, queue: str | None = None) -> MinuteHistory:
        """Completed, failed, wait p50/p95 and depth per queue over ``window`` (up to 7
        days), per minute or per N-minute bucket, ending with the current minute."""
        async with self.reads.connection() as conn:
            return await history(conn, window, queue)

    async def workflow_graph(self, job_id: int, *, limit: int = GRAPH_LIMIT) -> WorkflowGraph:
        """The dependency graph a job belongs to (its workflow, or its connected component),
        at most ``limit`` jobs: what the console's DAG view draws."""
        _check_id(job_id)
        async with self.reads.connection() as conn:
            return await workflow_graph(conn, job_id, limit=limit)

    async def workflow_job(self, workflow_id: int | None = None) -> int | None:
        """A job of workflow ``workflow_id`` (default: the newest with live jobs, else the
        newest), to draw it with :meth:`workflow_graph`; None when there is none."""
        if workflow_id is not None and (
            isinstance(workflow_id, bool)
            or not isinstance(workflow_id, int)
            or not 0 < workflow_id < 2**63
        ):
            return None  # cannot be a workflow id (typed into the console): there is none
        async with self.reads.connection() as conn:
            return await default_workflow_job(conn, workflow_id)

    async def workflow(self, workflow_id: int, *, limit: int = GRAPH_LIMIT) -> WorkflowGraph:
        """A workflow's jobs and dependencies by the workflow's id (at most ``limit`` jobs).

        Raises :class:`~engine.errors.WorkflowNotFound` when no job belongs to it.
        """
        async with self.reads.connection() as conn:
            return await workflow_graph_by_id(conn, workflow_id, limit=limit)

    async def job_logs(self, job_id: int, *, after: int = 0, limit: int = 500) -> LogPage:
        """A job's log lines after line id ``after``, oldest first (to follow a job's logs)."""
        _check_id(job_id)
        async with self.reads.connection() as conn:
            return await job_logs(conn, job_id, after=after, limit=limit)

    async def read_replica(self) -> ReadReplicaStatus | None:
        """Where reads go now and how far the replica trails; None without a replica."""
        return await self.reads.status() if isinstance(self.reads, ReplicaReads) else None

    async def failure_groups(self) -> FailuresSection:
        """FAILED jobs grouped by error, largest group first (the Failures pane's groups)."""
        return await failure_groups(self.reads)

    # -- HTTP API tokens (engine.store.tokens) --------------------------------

    async def create_token(self, name: str, scope: str, tenant: str | None = None) -> CreatedToken:
        """A new API token; the secret in the answer is stored nowhere (only its hash).
        With ``tenant``, the token sees and acts on that tenant's jobs only."""
        return await self.db.run(lambda conn: tokens.create_token(conn, name, scope, tenant))

    async def tokens(self) -> list[TokenInfo]:
        """Every API token, revoked ones included, oldest first."""
        async with self.db.connection() as conn:
            return await tokens.list_tokens(conn)

    async def revoke_token(self, name_or_id: str) -> tuple[TokenInfo, bool]:
        """Revoke a token by name (or id); returns it and whether this call revoked it."""
        return await self.db.run(lambda conn: tokens.revoke_token(conn, name_or_id))

    async def use_token(self, secret: str) -> TokenInfo | None:
        """The live token behind ``secret`` (marked as used now), or None."""
        return await self.db.run(lambda conn: tokens.use_token(conn, secret))

    # -- tenants (engine.tenants) ----------------------------------------------

    async def job_tenant(self, job_id: int) -> str | None:
        """The tenant of a job (None: no such job)."""
        if isinstance(job_id, bool) or not isinstance(job_id, int) or not 0 < job_id < 2**63:
            return None
        async with self.db.connection() as conn:
            tenant: str | None = await conn.scalar(JOB_TENANT_OF, {"id": job_id})
            return tenant

    async def workflow_tenant(self, workflow_id: int) -> str | None:
        """The tenant of a workflow's jobs (None: no such workflow)."""
        if not 0 < workflow_id < 2**63:
            return None
        async with self.db.connection() as conn:
            tenant: str | None = await conn.scalar(
                JOB_TENANT_OF_WORKFLOW, {"workflow_id": workflow_id}
            )
            return tenant

    async def tenants(self) -> list[TenantInfo]:
        """Every tenant: its limits, weight, and live jobs waiting and running."""
        async with self.db.connection() as conn:
            return await tenant_settings.list_tenants(conn)

    async def add_tenant(
        self,
        name: str,
        *,
        max_waiting: int | str | None = None,
        max_running: int | str | None = None,
        weight: float | str = 1.0,
    ) -> TenantInfo:
        """A new tenant, with its limits (None: none) and weight on shared queues."""
        return await self.db.run(
            lambda conn: tenant_settings.add_tenant(
                conn, name, max_waiting=max_waiting, max_running=max_running, weight=weight
            )
        )

    async def set_tenant(
        self,
        name: str,
        *,
        max_waiting: int | str | None = tenant_settings.UNSET,
        max_running: int | str | None = tenant_settings.UNSET,
        weight: float | str = tenant_settings.UNSET,
    ) -> TenantInfo:
        """Change the given settings of a tenant (None, or ``"none"``, lifts a limit)."""
        return await self.db.run(
            lambda conn: tenant_settings.set_tenant(
                conn, name, max_waiting=max_waiting, max_running=max_running, weight=weight
            )
        )

    async def remove_tenant(self, name: str) -> None:
        """Remove a tenant that has no live job."""
        await self.db.run(lambda conn: tenant_settings.remove_tenant(conn, name))

    # -- queues (engine.queues), schedules and retention (engine.maintenance) --

    async def queues(self) -> list[QueueInfo]:
        """Every known queue: whether it is paused, its waiting limit, how many jobs wait."""
        async with self.db.connection() as conn:
            return await list_queues(conn)

    async def pause_queue(self, queue: str) -> PauseChange:
        """Stop new starts of ``queue``'s jobs on every worker; submissions are still
        accepted and running jobs finish."""
        return await self.db.run(lambda conn: pausing.pause_queue(conn, queue))

    async def resume_queue(self, queue: str) -> PauseChange:
        """Let ``queue``'s jobs start again; its QUEUED jobs go to the hooks to be published."""
        return await pausing.resume_and_republish(self.db, self.hooks, queue)

    async def set_queue_limit(self, queue: str, limit: int | str | None) -> QueueInfo:
        """At most ``limit`` jobs may wait in ``queue``; None (or ``"none"``) lifts it."""
        return await self.db.run(lambda conn: limits.set_queue_limit(conn, queue, limit))

    async def add_schedule(
        self,
        name: str,
        cron: str,
        type: str,
        payload: Mapping[str, Any] | None = None,
        *,
        queue: str | None = None,
        priority: Priority | str | None = None,
        tz: str = schedule_ops.DEFAULT_TZ,
        max_retries: int = 3,
        timeout_s: float | None = None,
        ttl_s: float | None = None,
    ) -> ScheduleInfo:
        """Submit a ``type`` job at every tick of ``cron`` in time zone ``tz``.

        A queue or priority left as None is taken from the routing rules now, when the
        schedule is added, and stored with it (:func:`~engine.maintenance.scheduler.add_schedule`
        says why).
        """
        return await self.db.run(
            lambda conn: schedule_ops.add_schedule(
                conn,
                name,
                cron,
                type,
                payload,
                queue=queue,
                priority=priority,
                tz=tz,
                max_retries=max_retries,
                timeout_s=timeout_s,
                ttl_s=ttl_s,
                routes=self.settings.routes,
            )
        )

    async def schedules(self) -> list[ScheduleInfo]:
        """Every schedule, by name."""
        async with self.db.connection() as conn:
            return await schedule_ops.list_schedules(conn)

    async def remove_schedule(self, name: str) -> None:
        """Delete a schedule; the jobs it submitted stay."""
        await self.db.run(lambda conn: schedule_ops.remove_schedule(conn, name))

    async def schedule_missed_ticks(self) -> dict[str, int]:
        """Ticks each schedule missed while no engine ran, over its kept fire history
        (names of schedules that missed none are left out)."""
        async with self.db.connection() as conn:
            return await schedule_ops.missed_totals(conn)

    async def fire_schedule(self, name: str) -> Fired:
        """Submit a schedule's job now, out of turn; its cron ticks go on as before."""
        fired_round = await self.db.run(lambda conn: schedule_ops.fire_now(conn, name))
        await self._after_submission(fired_round.changes)
        return fired_round.fired[0]

    async def pause_schedule(self, name: str) -> ScheduleInfo:
        """Stop firing a schedule until it is resumed."""
        return await self.db.run(lambda conn: schedule_ops.set_schedule_paused(conn, name, True))

    async def resume_schedule(self, name: str) -> ScheduleInfo:
        """Fire a paused schedule again, from its first tick after now."""
        return await self.db.run(lambda conn: schedule_ops.set_schedule_paused(conn, name, False))

    async def prune(
        self,
        older_than: timedelta | str,
        *,
        dry_run: bool = False,
        batch_size: int = retention.DEFAULT_BATCH,
    ) -> PruneResult:
        """Remove finished jobs older than ``older_than`` (e.g. ``"7d"``) with their events,
        logs and edges, in short batches; ``dry_run`` only counts."""
        return await retention.prune(self.db, older_than, dry_run=dry_run, batch_size=batch_size)


BULK_STATES: dict[str, tuple[str, ...]] = {
    "retry": (State.FAILED.value, State.CANCELLED.value, State.RETRYING.value),
    "cancel": tuple(s.value for s in State if s not in TERMINAL),
}
"""The states each bulk action applies to (as its single-job twin allows)."""


def _bulk_terms(
    action: str, flt: JobFilter | None, ids: Sequence[int] | None
) -> dict[str, Any] | None:
    """The job-list terms of a bulk selection; None when nothing can match it."""
    if action not in BULK_STATES:
        raise ValidationError(f"unknown bulk action {action!r}; use retry or cancel")
    flt = flt or JobFilter()
    if ids is not None:
        if any(isinstance(i, bool) or not isinstance(i, int) for i in ids):
            raise ValidationError("bulk ids must be job ids (whole numbers)")
        ids = [i for i in ids if 0 < i < 2**63]
        if not ids:
            return None
    texts = (flt.text, flt.queue, flt.type, flt.tenant)
    if any(t is not None and not storable(t) for t in texts):
        return None
    return {
        "state": None if flt.state is None else flt.state.value,
        "queue": flt.queue,
        "job_type": flt.type,
        "workflow_id": flt.workflow_id,
        "tenant": flt.tenant,
        "search": flt.text,
        "ids": None if ids is None else list(ids),
        "states": list(BULK_STATES[action]),
    }


def _check_id(job_id: int) -> None:
    """JobNotFound for what cannot be a job id: the driver would fail on a number outside
    PostgreSQL's bigint (e.g. typed into the console) instead of saying there is no such job."""
    if isinstance(job_id, bool) or not isinstance(job_id, int) or not 0 < job_id < 2**63:
        raise JobNotFound(job_id)


def _check_fingerprint(fingerprint: str) -> None:
    """EmptyFailureGroup for what no group can be keyed by: the driver would refuse text
    PostgreSQL cannot store (NUL) instead of saying there is no such group."""
    if not isinstance(fingerprint, str) or not storable(fingerprint):
        raise EmptyFailureGroup(fingerprint)


async def _require_job(conn: AsyncConnection, job_id: int) -> None:
    _check_id(job_id)
    if (await conn.execute(JOB_GET, {"id": job_id})).first() is None:
        raise JobNotFound(job_id)


__all__ = [  # the client and what its methods take and return: the public write API
    "DEFAULT_BATCH",
    "DEFAULT_TZ",
    "ChangeSet",
    "Client",
    "PauseChange",
    "PruneResult",
    "QueueInfo",
    "ScheduleInfo",
    "Submitted",
    "WorkflowSubmitted",
]
