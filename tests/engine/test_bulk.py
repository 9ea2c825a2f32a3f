"""Bulk retry and cancel: any size, in committed batches, exactly the selection, previews
that match what happens."""

from __future__ import annotations

import pytest

import engine.client
from engine.errors import ValidationError
from engine.snapshots import JobFilter
from engine.specs import JobSpec
from engine.states import State
from tests.support.flow import fail_for_good, state_of


async def failed_jobs(client, db, n: int, queue: str = "default") -> list[int]:
    jobs = await client.submit_many([JobSpec("api.call", {"i": i}, queue=queue) for i in range(n)])
    ids = [j.id for j in jobs]
    await fail_for_good(db, [(i, "Boom", "boom") for i in ids])
    return ids


async def test_bulk_retry_by_filter_takes_every_match_in_batches_and_nothing_else(
    client, db, monkeypatch
):
    monkeypatch.setattr(engine.client, "GROUP_RETRY_BATCH", 7)
    mail = await failed_jobs(client, db, 23, queue="mail")
    other = await failed_jobs(client, db, 4, queue="default")
    live = await client.submit("api.call", queue="mail")
    flt = JobFilter(queue="mail")
    preview = await client.preview_bulk("retry", flt=flt)
    assert (preview.count, preview.affected_exact) == (23, True)
    done = await client.bulk("retry", flt=flt)
    assert (done.done, done.skipped, done.batches) == (23, 0, 4)
    assert {await state_of(db, i) for i in mail} == {State.QUEUED}
    assert {await state_of(db, i) for i in other} == {State.FAILED}
    assert await state_of(db, live.id) is State.QUEUED
    assert (await client.preview_bulk("retry", flt=flt)).count == 0


async def test_bulk_cancel_of_marked_jobs_blocks_their_dependents_as_previewed(client, db):
    flow = await client.submit_workflow(
        [
            JobSpec("etl.step", ref="a"),
            JobSpec("etl.step", ref="b", depends_on=["a"]),
            JobSpec("etl.step", ref="c", depends_on=["b"]),
            JobSpec("etl.step", ref="x"),
        ]
    )
    a, b, c, x = (flow.ids[r] for r in "abcx")
    preview = await client.preview_bulk("cancel", ids=[a, x])
    assert preview.count == 2
    assert {r.id for r in preview.affected} == {b, c} and preview.affected_count == 2
    done = await client.bulk("cancel", ids=[a, x])
    assert (done.done, done.dependents) == (2, 2)
    assert [await state_of(db, i) for i in (a, b, c, x)] == [
        State.CANCELLED,
        State.BLOCKED,
        State.BLOCKED,
        State.CANCELLED,
    ]
    # A retry of the same marks releases them again, as the preview says.
    again = await client.preview_bulk("retry", ids=[a, x])
    assert again.count == 2 and {r.id for r in again.affected} == {b, c}
    await client.bulk("retry", ids=[a, x])
    assert await state_of(db, b) is State.PENDING


async def test_a_selection_the_action_does_not_apply_to_does_nothing(client, db):
    queued = await client.submit("api.call")
    assert (await client.preview_bulk("retry", ids=[queued.id])).count == 0
    done = await client.bulk("retry", ids=[queued.id])
    assert (done.done, done.batches) == (0, 0)
    assert (await client.preview_bulk("cancel", flt=JobFilter(state=State.FAILED))).count == 0
    assert (await client.bulk("cancel", ids=[2**70])).done == 0  # beyond any id


async def test_bad_bulk_requests_name_what_was_wrong(client):
    with pytest.raises(ValidationError, match="unknown bulk action 'delete'"):
        await client.preview_bulk("delete")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="bulk ids must be job ids"):
        await client.bulk("cancel", ids=["7"])  # type: ignore[list-item]


async def test_bulk_cancel_in_one_statement_matches_the_single_job_cancel(client, db):
    """A running job is cancelled and its worker told to stop, a finished one is skipped,
    and every cancelled job gets its event and its count, as ``cancel`` gives one job."""
    from sqlalchemy import text

    from engine.queries.counts import COUNT_TOTALS
    from engine.store.transitions import cancel_many
    from tests.support.flow import claim, complete

    running = await client.submit("api.call")
    await claim(db, running.id)
    done_job = await client.submit("api.call")
    await complete(db, done_job.id)
    queued = await client.submit("api.call")
    ids = [running.id, done_job.id, queued.id]
    batch = await db.run(lambda conn: cancel_many(conn, ids, "cancelled in bulk"))
    assert (batch.done, batch.skipped) == (2, 1)
    assert [s.job_id for s in batch.changes.stops] == [running.id]
    assert [await state_of(db, i) for i in ids] == [
        State.CANCELLED,
        State.COMPLETED,
        State.CANCELLED,
    ]
    async with db.connection() as conn:
        events = (
            await conn.execute(
                text(
                    "SELECT job_id, from_state, reason FROM job_events "
                    "WHERE to_state = 'cancelled' ORDER BY job_id"
                )
            )
        ).all()
        totals = {(r.queue, r.state): int(r.jobs) for r in await conn.execute(COUNT_TOTALS)}
    assert [(e.job_id, e.from_state, e.reason) for e in events] == [
        (running.id, "running", "cancelled in bulk"),
        (queued.id, "queued", "cancelled in bulk"),
    ]
    assert totals[("default", "cancelled")] == 2
    assert totals.get(("default", "running"), 0) == totals.get(("default", "queued"), 0) == 0


async def test_bulk_retry_moves_plain_jobs_at_once_and_weighs_the_rest_one_by_one(client, db):
    """Failed (its blocked dependent released), retrying, a cancelled job with no
    dependencies and a failed one with an idempotency key all become QUEUED; a cancelled
    job whose dependency failed becomes BLOCKED; a completed one is skipped."""
    from engine.store.transitions import retry_many
    from tests.support.flow import complete, fail_once

    flow = await client.submit_workflow(
        [JobSpec("etl.step", ref="a"), JobSpec("etl.step", ref="b", depends_on=["a"])]
    )
    a, b = flow.ids["a"], flow.ids["b"]
    await fail_for_good(db, [(a, "Boom", "boom")])
    assert await state_of(db, b) is State.BLOCKED
    retrying = await client.submit("api.call", max_retries=3)
    await fail_once(db, retrying.id)
    lone = await client.submit("api.call")
    await client.cancel(lone.id)
    keyed = await client.submit("api.call", idempotency_key="k-1")
    await fail_for_good(db, [(keyed.id, "Boom", "boom")])
    gated = await client.submit_workflow(
        [JobSpec("etl.step", ref="x"), JobSpec("etl.step", ref="y", depends_on=["x"])]
    )
    x, y = gated.ids["x"], gated.ids["y"]
    await fail_for_good(db, [(x, "Boom", "boom")])
    await client.cancel(y)
    finished = await client.submit("api.call")
    await complete(db, finished.id)
    ids = [a, retrying.id, lone.id, keyed.id, y, finished.id]
    batch = await db.run(lambda conn: retry_many(conn, ids, "retried in bulk"))
    assert (batch.done, batch.skipped) == (5, 1)
    assert [await state_of(db, i) for i in (a, retrying.id, lone.id, keyed.id)] == [
        State.QUEUED
    ] * 4
    assert await state_of(db, b) is State.PENDING  # released with its dependency
    assert await state_of(db, y) is State.BLOCKED  # its dependency x still failed
    assert await state_of(db, finished.id) is State.COMPLETED
    assert {r.job_id for r in batch.changes.runnables} == {a, retrying.id, lone.id, keyed.id}
