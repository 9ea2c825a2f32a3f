"""Every legal transition done on the real store, and the illegal ones refused."""

import pytest
from sqlalchemy import text

from engine.errors import IllegalTransition, JobNotFound
from engine.states import TRANSITIONS, State
from engine.store import transitions
from engine.store.transitions import Failure, Success
from tests.conftest import OBSERVED_TRANSITIONS
from tests.support.flow import (
    WORKER,
    attempts_of,
    claim,
    complete,
    events_of,
    exhaust,
    fail_once,
    requeue_now,
    state_of,
)


async def test_happy_path_queued_running_completed(client, db):
    s = await client.submit("demo.noop")
    c = await claim(db, s.id)
    assert c.attempt == 1 and c.payload == {}
    await db.run(lambda conn: transitions.complete(conn, [Success(s.id, 1, result={"ok": 1})]))
    job = await client.job(s.id)
    assert job.state is State.COMPLETED and job.result == {"ok": 1}
    assert [(e.from_state, e.to_state) for e in job.events] == [
        (None, State.QUEUED),
        (State.QUEUED, State.RUNNING),
        (State.RUNNING, State.COMPLETED),
    ]


async def test_error_with_attempts_left_retries_with_backoff_on_the_db_clock(client, db):
    s = await client.submit("demo.flaky", max_retries=2, backoff_s=10)
    await fail_once(db, s.id)
    job = await client.job(s.id)
    assert job.state is State.RETRYING
    assert job.error.message == "boom"
    delay = (job.run_at - job.started_at).total_seconds()
    assert 4.9 <= delay <= 11, delay  # 10 s base, equal jitter: 5..10 s
    # Not due yet: the scheduler leaves it alone.
    assert not await db.run(lambda conn: transitions.requeue_due(conn))
    await requeue_now(db, s.id)
    assert await state_of(db, s.id) is State.QUEUED


async def test_exhausted_attempts_fail_and_dead_letter(client, db):
    s = await client.submit("demo.fail", max_retries=1)
    await fail_once(db, s.id)
    await requeue_now(db, s.id)
    changes = await fail_once(db, s.id)
    assert [t.job_id for t in changes.dead_letters] == [s.id]
    job = await client.job(s.id)
    assert (job.state, job.attempts, job.attempts_left) == (State.FAILED, 2, 0)


async def test_non_retryable_error_fails_at_once(client, db):
    s = await client.submit("demo.fail", max_retries=5)
    await fail_once(db, s.id, retryable=False)
    assert await state_of(db, s.id) is State.FAILED


async def test_retrying_a_failed_job_gives_a_fresh_budget(client, db):
    s = await client.submit("demo.fail", max_retries=0)
    await exhaust(db, s.id)
    changes = await client.retry(s.id)
    assert [(r.job_id, r.attempt) for r in changes.runnables] == [(s.id, 1)]
    job = await client.job(s.id)
    assert (job.state, job.attempts_left) == (State.QUEUED, 1)


async def test_retry_now_skips_the_backoff(client, db):
    s = await client.submit("demo.flaky", backoff_s=300)
    await fail_once(db, s.id)
    await client.retry(s.id)
    assert await state_of(db, s.id) is State.QUEUED


@pytest.mark.parametrize("setup", ["queued", "running", "retrying", "pending", "blocked"])
async def test_cancel_any_live_state(client, db, setup):
    s = await client.submit("demo.noop", max_retries=0 if setup == "blocked" else 3)
    target = s.id
    if setup == "running":
        await claim(db, s.id)
    elif setup == "retrying":
        await fail_once(db, s.id)
    elif setup == "pending":
        target = (await client.submit("demo.noop", depends_on=[s.id])).id
    elif setup == "blocked":
        target = (await client.submit("demo.noop", depends_on=[s.id])).id
        await exhaust(db, s.id)
        assert await state_of(db, target) is State.BLOCKED
    changes = await client.cancel(target)
    assert await state_of(db, target) is State.CANCELLED
    if setup == "running":
        assert [(x.job_id, x.worker_id) for x in changes.stops] == [(s.id, WORKER)]


async def test_a_cancelled_running_job_cannot_complete_later(client, db):
    s = await client.submit("demo.noop")
    c = await claim(db, s.id)
    await client.cancel(s.id)
    changes = await db.run(lambda conn: transitions.complete(conn, [Success(s.id, c.attempt)]))
    assert not changes.transitions
    assert await state_of(db, s.id) is State.CANCELLED


async def test_retrying_a_cancelled_job(client, db):
    a = await client.submit("demo.noop")
    b = await client.submit("demo.noop", depends_on=[a.id])
    await client.cancel(b.id)
    await client.retry(b.id)
    assert await state_of(db, b.id) is State.PENDING
    await client.cancel(a.id)
    await client.cancel(b.id)
    await client.retry(b.id)
    assert await state_of(db, b.id) is State.BLOCKED
    await client.retry(a.id)
    assert await state_of(db, b.id) is State.PENDING
    await complete(db, a.id)
    assert await state_of(db, b.id) is State.QUEUED
    c = await client.submit("demo.noop")
    await client.cancel(c.id)
    assert (await client.submit("demo.noop", depends_on=[c.id])).state is State.BLOCKED
    await client.retry(c.id)
    assert await state_of(db, c.id) is State.QUEUED


async def test_claimed_but_unstarted_goes_back_to_the_queue_without_spending_an_attempt(client, db):
    s = await client.submit("demo.noop", max_retries=0)
    c = await claim(db, s.id)
    changes = await db.run(
        lambda conn: transitions.give_back(
            conn, [(s.id, c.attempt)], started=False, reason="worker busy"
        )
    )
    assert [(r.job_id, r.attempt) for r in changes.runnables] == [(s.id, 1)]
    job = await client.job(s.id)
    assert (job.state, job.attempts_left) == (State.QUEUED, 1)


async def test_hand_back_of_a_started_run_does_not_spend_an_attempt(client, db):
    s = await client.submit("demo.noop", max_retries=0)
    c = await claim(db, s.id)
    await db.run(
        lambda conn: transitions.give_back(
            conn, [(s.id, c.attempt)], started=True, reason="worker draining"
        )
    )
    job = await client.job(s.id)
    assert (job.state, job.attempts_left) == (State.RETRYING, 1)
    await db.run(lambda conn: transitions.requeue_due(conn))
    assert await state_of(db, s.id) is State.QUEUED


async def test_stale_and_duplicate_messages_claim_nothing_and_leave_a_note(client, db):
    s = await client.submit("demo.noop")
    first, refused, _ = await db.run(
        lambda conn: transitions.claim(conn, [(s.id, 0), (s.id, 0)], "w1")
    )
    assert len(first) == 1 and refused == []
    again, refused, _ = await db.run(lambda conn: transitions.claim(conn, [(s.id, 0)], "w2"))
    assert again == [] and "superseded" in refused[0].reason
    _, refused, _ = await db.run(lambda conn: transitions.claim(conn, [(987654, 0)], "w2"))
    assert refused[0].reason == "unknown job id"
    notes = [e for e in await events_of(db, s.id) if e[0] == e[1]]
    assert len(notes) == 1 and "stale message" in notes[0][2]
    await db.run(lambda conn: transitions.complete(conn, [Success(s.id, 1)]))
    _, refused, _ = await db.run(lambda conn: transitions.claim(conn, [(s.id, 1)], "w2"))
    assert "already completed" in refused[0].reason


async def test_two_workers_cannot_both_complete_one_attempt(client, db):
    s = await client.submit("demo.noop")
    c = await claim(db, s.id)
    one = await db.run(lambda conn: transitions.complete(conn, [Success(s.id, c.attempt)]))
    two = await db.run(lambda conn: transitions.complete(conn, [Success(s.id, c.attempt)]))
    assert len(one.transitions) == 1 and two.transitions == []
    async with db.connection() as conn:
        completed = await conn.scalar(
            text("SELECT count(*) FROM job_events WHERE job_id = :id AND to_state = 'completed'"),
            {"id": s.id},
        )
    assert completed == 1


async def test_an_old_attempt_cannot_fail_a_newer_run(client, db):
    s = await client.submit("demo.noop")
    await fail_once(db, s.id)
    await requeue_now(db, s.id)
    await claim(db, s.id)
    assert await attempts_of(db, s.id) == 2
    stale = await db.run(
        lambda conn: transitions.fail(conn, [Failure(s.id, 1, "RuntimeError", "late")])
    )
    assert stale.transitions == []
    assert await state_of(db, s.id) is State.RUNNING


@pytest.mark.parametrize(
    ("action", "setup", "message"),
    [
        ("cancel", "completed", "job {id} is completed; it cannot become cancelled"),
        ("cancel", "failed", "job {id} is failed; it cannot become cancelled"),
        ("retry", "completed", "only failed, cancelled or retrying jobs can be retried"),
        ("retry", "queued", "job {id} is queued; it cannot become queued"),
        ("retry", "running", "job {id} is running"),
        ("retry", "pending", "job {id} is pending"),
        ("retry", "blocked", "retry the failed or cancelled job it depends on instead"),
    ],
)
async def test_illegal_operator_actions_are_refused_and_change_nothing(
    client, db, action, setup, message
):
    s = await client.submit("demo.noop", max_retries=0)
    target = s.id
    if setup == "completed":
        await complete(db, s.id)
    elif setup == "failed":
        await exhaust(db, s.id)
    elif setup == "running":
        await claim(db, s.id)
    elif setup in ("pending", "blocked"):
        target = (await client.submit("demo.noop", depends_on=[s.id])).id
        if setup == "blocked":
            await exhaust(db, s.id)
    before = await events_of(db, target)
    with pytest.raises(IllegalTransition) as info:
        await getattr(client, action)(target)
    assert message.format(id=target) in str(info.value)
    assert await events_of(db, target) == before


async def test_unknown_job(client):
    with pytest.raises(JobNotFound, match="job 31337 does not exist"):
        await client.cancel(31337)


def test_every_legal_transition_was_exercised(request):
    """Runs last in this module: the tests above, against the real store, must together
    have written every legal transition of the table to job_events."""
    module = request.module
    wanted = {n for n in dir(module) if n.startswith("test_")} - {request.node.originalname}
    selected = {i.originalname for i in request.session.items if i.module is module}
    if not wanted <= selected:
        pytest.skip("checks coverage of the whole module; run all of test_transitions.py")
    observed = {(State(f) if f else None, State(t)) for f, t in OBSERVED_TRANSITIONS}
    missing = set(TRANSITIONS) - observed
    assert not missing, sorted(map(str, missing))
