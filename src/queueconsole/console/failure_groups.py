"""The Failures pane's groups with their jobs, and every member of one group for ``R``.

Moved unchanged from the console's old backend module; the grouping rule here
(:func:`fingerprint`, message only) is the one the engine's fingerprint is to
replace.
"""

from __future__ import annotations

import re
from dataclasses import replace

from engine.client import Client
from engine.snapshots import FailureGroup, JobFilter, JobSummary
from engine.states import State
from queueconsole.console.model import FailuresView

FAILED_SCANNED = 500  # failed jobs grouped client-side when the dashboard API is absent
GROUP_SCAN_MAX = 100_000  # failed jobs scanned at most to collect every member of a group
GROUP_SCAN_PAGE = 1000  # rows per keyset page of that scan


async def failures(client: Client, groups: FailuresView | None = None) -> FailuresView:
    """Failed jobs grouped by error, each group with its newest jobs.

    ``groups`` are the dashboard's groups (by the engine's fingerprint, over
    many more failures); the newest failed jobs are then attached to the
    group whose message they share. Without them, the groups are built here
    from the newest failed jobs.
    """
    page = await client.jobs(JobFilter(state=State.FAILED), limit=FAILED_SCANNED)
    if groups is not None:
        by_key: dict[str, list[JobSummary]] = {}
        for job in page.items:
            by_key.setdefault(fingerprint(job.error_message), []).append(job)
        return replace(
            groups,
            groups=tuple(
                replace(
                    g,
                    jobs=tuple(by_key.get(fingerprint(g.message), ())),
                    queues=g.queues
                    or tuple(sorted({j.queue for j in by_key.get(fingerprint(g.message), ())})),
                    job_ids=tuple(
                        dict.fromkeys(
                            [
                                *g.job_ids,
                                *(j.id for j in by_key.get(fingerprint(g.message), ())),
                            ]
                        )
                    ),
                )
                for g in groups.groups
            ),
        )
    built_groups: dict[str, list[JobSummary]] = {}
    for job in page.items:
        built_groups.setdefault(fingerprint(job.error_message), []).append(job)
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
        for key, jobs in built_groups.items()
    ]
    built.sort(key=lambda g: (-g.count, g.fingerprint))
    return FailuresView(tuple(built), len(page.items), page.next_before is None)


async def group_members(client: Client, group: FailureGroup) -> tuple[int, ...]:
    """Every FAILED job of ``group`` (by error message), newest first.

    A keyset scan over the FAILED jobs (the partial state index), at most
    :data:`GROUP_SCAN_MAX` of them, so a retry of the group covers it whole
    and not only the jobs a page showed.
    """
    key = fingerprint(group.message)
    found: list[int] = []
    before: int | None = None
    scanned = 0
    while scanned < GROUP_SCAN_MAX:
        page = await client.jobs(
            JobFilter(state=State.FAILED), limit=GROUP_SCAN_PAGE, before=before
        )
        scanned += len(page.items)
        found.extend(j.id for j in page.items if fingerprint(j.error_message) == key)
        if page.next_before is None:
            break
        before = page.next_before
    return tuple(found)


_VARYING_RE = re.compile(r"0x[0-9a-fA-F]+|\d+")


def fingerprint(message: str | None) -> str:
    """A grouping key for an error message: numbers and addresses do not split groups."""
    if not message:
        return "(no error message)"
    first = message.strip().splitlines()[0] if message.strip() else message
    return _VARYING_RE.sub("#", first)[:200]
