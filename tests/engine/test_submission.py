"""Submission against the real PostgreSQL: all or nothing, idempotent, validated."""

import asyncio

import pytest
from sqlalchemy import text

from engine.client import Client
from engine.errors import CycleError, ValidationError
from engine.specs import JobSpec
from engine.states import State
from tests.support.flow import complete, events_of, exhaust, state_of


async def count(db, table):
    async with db.connection() as conn:
        return await conn.scalar(text(f"SELECT count(*) FROM {table}"))


async def nothing_written(db):
    for table in ("jobs", "job_dependencies", "job_events", "workflows", "queue_state_deltas"):
        assert await count(db, table) == 0, table


async def test_submit_queues_a_job_and_records_the_event(client, db):
    s = await client.submit("demo.noop", {"a": 1}, queue="q1", priority="high")
    assert (s.state, s.duplicate) == (State.QUEUED, False)
    job = await client.job(s.id)
    assert (job.queue, job.priority.label, job.payload) == ("q1", "high", {"a": 1})
    assert [(e.from_state, e.to_state) for e in job.events] == [(None, State.QUEUED)]
    counts = {q.queue: q for q in await client.queue_counts()}
    assert counts["q1"].counts[State.QUEUED] == 1


async def test_workflow_states_follow_dependencies(client, db):
    done = await client.submit("demo.noop")
    await complete(db, done.id)
    running_dep = await client.submit("demo.noop")
    wf = await client.submit_workflow(
        [
            JobSpec("demo.noop", ref="a"),
            JobSpec("demo.noop", ref="b", depends_on=["a"]),
            JobSpec("demo.noop", ref="c", depends_on=[done.id]),
            JobSpec("demo.noop", ref="d", depends_on=[running_dep.id, "c"]),
        ],
        name="pipeline",
    )
    states = {ref: s.state for ref, s in wf.jobs.items()}
    assert states == {"a": State.QUEUED, "b": State.PENDING, "c": State.QUEUED, "d": State.PENDING}
    d = await client.job(wf.ids["d"])
    assert sorted(j.id for j in d.upstream) == sorted([running_dep.id, wf.ids["c"]])
    assert d.workflow_id == wf.workflow_id is not None


async def test_depending_on_a_failed_job_starts_blocked(client, db):
    bad = await client.submit("demo.fail", max_retries=0)
    await exhaust(db, bad.id)
    s = await client.submit("demo.noop", depends_on=[bad.id])
    assert s.state is State.BLOCKED
    assert "failed" in (await client.job(s.id)).wait_reason


@pytest.mark.parametrize(
    ("specs", "error", "message"),
    [
        (
            [
                JobSpec("demo.noop", ref="a", depends_on=["b"]),
                JobSpec("demo.noop", ref="b", depends_on=["a"]),
            ],
            CycleError,
            "dependency cycle",
        ),
        (
            [JobSpec("demo.noop", ref="a"), JobSpec("demo.noop", ref="b", depends_on=[424242])],
            ValidationError,
            "job 'b' depends on job 424242, which does not exist",
        ),
        (
            [JobSpec("demo.noop", ref="a"), JobSpec("", ref="b")],
            ValidationError,
            "job 'b': type is empty",
        ),
        (
            [
                JobSpec("demo.noop", ref="a", idempotency_key="k"),
                JobSpec("demo.noop", ref="b", idempotency_key="k"),
            ],
            ValidationError,
            "share the idempotency key",
        ),
    ],
)
async def test_a_refused_workflow_writes_nothing(client, db, specs, error, message):
    with pytest.raises(error) as info:
        await client.submit_workflow(specs)
    assert message in str(info.value)
    await nothing_written(db)


async def test_unknown_dependency_of_single_submit(client, db):
    with pytest.raises(ValidationError, match="job depends on job 99, which does not exist"):
        await client.submit("demo.noop", depends_on=[99])
    await nothing_written(db)


async def test_idempotency_returns_the_live_job(client, db):
    first = await client.submit("demo.noop", idempotency_key="order-1")
    again = await client.submit("demo.noop", idempotency_key="order-1")
    assert (again.id, again.duplicate) == (first.id, True)
    await complete(db, first.id)
    fresh = await client.submit("demo.noop", idempotency_key="order-1")
    assert fresh.id != first.id and not fresh.duplicate


async def test_fifty_concurrent_submissions_with_one_key_create_one_job(migrated, db):
    clients = [Client(migrated) for _ in range(10)]
    try:
        results = await asyncio.gather(
            *(clients[i % 10].submit("demo.noop", idempotency_key="same") for i in range(50))
        )
    finally:
        await asyncio.gather(*(c.close() for c in clients))
    assert len({r.id for r in results}) == 1
    assert sum(not r.duplicate for r in results) == 1
    assert await count(db, "jobs") == 1


async def test_duplicate_inside_a_workflow_links_to_the_existing_job(client, db):
    existing = await client.submit("demo.noop", idempotency_key="shared")
    wf = await client.submit_workflow(
        [
            JobSpec("demo.noop", ref="a", idempotency_key="shared"),
            JobSpec("demo.noop", ref="b", depends_on=["a"]),
        ]
    )
    assert wf.jobs["a"].duplicate and wf.ids["a"] == existing.id
    b = await client.job(wf.ids["b"])
    assert [j.id for j in b.upstream] == [existing.id]
    await complete(db, existing.id)
    assert await state_of(db, wf.ids["b"]) is State.QUEUED


async def test_ten_thousand_job_workflow_with_twenty_thousand_edges(client, db):
    from bench.submit import layered_workflow

    wf = await client.submit_workflow(layered_workflow(10_000))
    assert len(wf.ids) == 10_000
    assert await count(db, "job_dependencies") == 20_000
    counts = (await client.queue_counts())[0].counts
    assert (counts[State.QUEUED], counts[State.PENDING]) == (1000, 9000)


async def test_submission_events_name_what_the_job_waits_for(client, db):
    a = await client.submit("demo.noop")
    b = await client.submit("demo.noop", depends_on=[a.id])
    assert await events_of(db, b.id) == [(None, "pending", "submitted; waiting for 1 dependencies")]
