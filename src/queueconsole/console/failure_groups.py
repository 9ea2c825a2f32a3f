"""The Failures pane's groups, each with the newest failed jobs of its key attached.

The key is always the engine's (``JobSummary.failure_group``, the Python twin of
the SQL expression the dashboard groups by and ``Client.retry_group`` selects
by), so what ``R`` retries is exactly the group the pane shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from engine.client import Client
from engine.snapshots import FailureGroup, JobFilter, JobSummary
from engine.states import State
from queueconsole.console.model import FailuresView

FAILED_SCANNED = 500  # newest failed jobs read to attach to groups (or group, without a dashboard)


async def failures(client: Client, groups: FailuresView | None = None) -> FailuresView:
    """Failed jobs grouped by error, each group with its newest jobs.

    ``groups`` are the dashboard's groups (over many more failures); the newest
    failed jobs are attached to the group of the same key. Without them, the
    groups are built here from the newest failed jobs. ``dead`` says which of the
    jobs have their copy in the broker's dead-letter queue.
    """
    page = await client.jobs(JobFilter(state=State.FAILED), limit=FAILED_SCANNED)
    by_key: dict[str, list[JobSummary]] = {}
    for job in page.items:
        by_key.setdefault(job.failure_group, []).append(job)
    dead = await client.dead_in_broker([j.id for j in page.items])
    if groups is not None:
        return replace(
            groups,
            groups=tuple(_with_jobs(g, by_key.get(g.fingerprint, ())) for g in groups.groups),
            dead=dead,
        )
    built = [
        FailureGroup(
            fingerprint=key,
            count=len(jobs),
            error_type=None,
            sample_message=jobs[0].error_message,
            first_seen=min((j.finished_at for j in jobs if j.finished_at), default=None),
            last_seen=max((j.finished_at for j in jobs if j.finished_at), default=None),
            job_ids=tuple(j.id for j in jobs),
            queues=tuple(sorted({j.queue for j in jobs})),
            jobs=tuple(jobs),
        )
        for key, jobs in by_key.items()
    ]
    built.sort(key=lambda g: (-g.count, g.fingerprint))
    return FailuresView(tuple(built), len(page.items), page.next_before is None, dead)


def _with_jobs(group: FailureGroup, jobs: Sequence[JobSummary]) -> FailureGroup:
    """A dashboard group with the newest failed jobs of its key attached."""
    return replace(
        group,
        jobs=tuple(jobs),
        queues=group.queues or tuple(sorted({j.queue for j in jobs})),
        job_ids=tuple(dict.fromkeys([*group.job_ids, *(j.id for j in jobs)])),
    )
