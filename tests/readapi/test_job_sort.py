"""Job lists in any column's order, paged by keyset: every job once, in order, any depth."""

from __future__ import annotations

import pytest

from engine.errors import ValidationError
from engine.snapshots import JOB_SORT_COLUMNS, JobFilter, JobSort
from engine.specs import JobSpec
from engine.states import State


def expected_order(jobs, column: str, descending: bool) -> list[int]:
    def key(j):
        value = {
            "id": j.id,
            "state": j.state.value,
            "type": j.type,
            "queue": j.queue,
            "priority": int(j.priority),
            "attempts": j.attempts,
        }[column]
        return (value, j.id)

    return [j.id for j in sorted(jobs, key=key, reverse=descending)]


async def walk(client, order: JobSort, flt: JobFilter | None = None, limit: int = 7) -> list[int]:
    seen: list[int] = []
    after = None
    while True:
        page = await client.jobs(flt, limit=limit, sort=order, after=after)
        seen += [j.id for j in page.items]
        if page.next_after is None:
            return seen
        after = page.next_after


@pytest.mark.parametrize("column", JOB_SORT_COLUMNS)
@pytest.mark.parametrize("descending", [True, False])
async def test_paging_in_any_order_visits_every_job_once_in_that_order(
    client, column: str, descending: bool
):
    specs = [
        JobSpec(
            f"t.{'abc'[i % 3]}",
            {"i": i},
            queue=("mail", "default", "reports")[i % 3 if i % 5 else 0],
            priority=("low", "normal", "high")[i % 3],
        )
        for i in range(40)
    ]
    await client.submit_many(specs)
    cancelled = (await client.jobs(limit=5)).items
    for job in cancelled:  # a second state to sort by
        await client.cancel(job.id)
    every = (await client.jobs(limit=100)).items
    assert len(every) == 40
    assert await walk(client, JobSort(column, descending)) == expected_order(
        every, column, descending
    )


async def test_sorted_pages_honour_the_filter(client):
    await client.submit_many([JobSpec("t.x", queue=q) for q in ("a", "b", "a", "c", "a")])
    flt = JobFilter(queue="a", state=State.QUEUED)
    ids = await walk(client, JobSort("type", descending=False), flt, limit=2)
    assert len(ids) == 3 and ids == sorted(ids)


async def test_bad_sorts_and_cursors_are_refused_with_a_reason(client):
    with pytest.raises(ValueError, match="cannot sort jobs by 'payload'"):
        JobSort("payload")
    with pytest.raises(ValidationError, match=r"a page cursor is \(value, id\)"):
        await client.jobs(sort=JobSort("queue"), after=("mail",))  # type: ignore[arg-type]
    empty = await client.jobs(sort=JobSort("queue"), after=("nul\x00", 5))
    assert empty.items == ()
