"""TTL: a job not started within ttl_s of being queued ends CANCELLED (expired)."""

import asyncio

from sqlalchemy import text

from engine.db.database import Database
from engine.maintenance.expiry import ExpiryService, expire_due
from engine.specs import JobSpec
from engine.states import State
from tests.ops.conftest import RecordingHook, scalar
from tests.support.flow import claim, complete, events_of, state_of


async def _age(db: Database, job_id: int, seconds: float) -> None:
    """Pretend the job was queued ``seconds`` ago (the clock is the database's)."""
    async with db.transaction() as conn:
        await conn.execute(
            text("UPDATE jobs SET queued_at = now() - make_interval(secs => :s) WHERE id = :id"),
            {"s": seconds, "id": job_id},
        )


async def test_an_expired_job_is_cancelled_and_its_dependents_blocked(client, db):
    wf = await client.submit_workflow(
        [
            JobSpec("fetch", ref="a", ttl_s=60),
            JobSpec("parse", ref="b", depends_on=["a"]),
            JobSpec("store", ref="c", depends_on=["b"]),
        ]
    )
    a, b, c = wf.ids["a"], wf.ids["b"], wf.ids["c"]
    await _age(db, a, 61)

    changes = await db.run(lambda conn: expire_due(conn))

    job = await client.job(a)
    assert job.state is State.CANCELLED and job.wait_reason == "expired"
    assert (await events_of(db, a))[-1] == ("queued", "cancelled", "expired")
    for dependent in (b, c):
        assert await state_of(db, dependent) is State.BLOCKED
    assert (await events_of(db, b))[-1] == ("pending", "blocked", f"dependency {a} expired")
    assert {(t.job_id, t.to_state) for t in changes.transitions} == {
        (a, State.CANCELLED),
        (b, State.BLOCKED),
        (c, State.BLOCKED),
    }
    counts = {q.queue: q.counts for q in await client.queue_counts()}["default"]
    assert (counts[State.CANCELLED], counts[State.BLOCKED], counts[State.QUEUED]) == (1, 2, 0)


async def test_only_queued_jobs_past_their_ttl_expire(client, db):
    fresh = await client.submit("demo.noop", ttl_s=3600)
    no_ttl = await client.submit("demo.noop")
    running = await client.submit("demo.noop", ttl_s=1)
    upstream = await client.submit("demo.noop")
    pending = await client.submit("demo.noop", ttl_s=1, depends_on=[upstream.id])
    await claim(db, running.id)
    for job in (no_ttl, running, pending):
        await _age(db, job.id, 10_000)

    changes = await db.run(lambda conn: expire_due(conn))

    assert changes.transitions == []
    assert await state_of(db, fresh.id) is State.QUEUED
    assert await state_of(db, no_ttl.id) is State.QUEUED
    assert await state_of(db, running.id) is State.RUNNING
    assert await state_of(db, pending.id) is State.PENDING


async def test_the_clock_starts_when_the_job_becomes_queued(client, db):
    upstream = await client.submit("demo.noop")
    job = await client.submit("demo.noop", ttl_s=60, depends_on=[upstream.id])
    async with db.transaction() as conn:  # created long ago, still waiting for upstream
        await conn.execute(
            text("UPDATE jobs SET created_at = now() - interval '1 day' WHERE id = :id"),
            {"id": job.id},
        )
    await complete(db, upstream.id)
    assert await state_of(db, job.id) is State.QUEUED
    await db.run(lambda conn: expire_due(conn))
    assert await state_of(db, job.id) is State.QUEUED  # a fresh minute from queued_at


async def test_retrying_an_expired_job_queues_it_with_a_fresh_ttl(client, db):
    job = await client.submit("demo.noop", ttl_s=30)
    await _age(db, job.id, 31)
    await db.run(lambda conn: expire_due(conn))
    await client.retry(job.id)
    await db.run(lambda conn: expire_due(conn))
    assert await state_of(db, job.id) is State.QUEUED
    await claim(db, job.id)


async def test_two_expiry_services_expire_each_job_once_and_tell_the_hooks(migrated, client, db):
    ids = [(await client.submit("demo.noop", {"i": i}, ttl_s=5)).id for i in range(30)]
    async with db.transaction() as conn:
        await conn.execute(text("UPDATE jobs SET queued_at = now() - interval '1 minute'"))
    other = Database(migrated)
    hooks = [RecordingHook(), RecordingHook()]
    try:
        services = [
            ExpiryService(db.settings, db, [hooks[0]], batch=4),
            ExpiryService(other.settings, other, [hooks[1]], batch=4),
        ]
        await asyncio.gather(*(s.tick() for s in services for _ in range(6)))
    finally:
        await other.close()
    assert sum(s.expired for s in services) == 30
    seen = sorted(t[0] for h in hooks for t in h.transitions)
    assert seen == ids  # each job's cancellation reported exactly once
    events = await scalar(
        db, "SELECT count(*) FROM job_events WHERE to_state = 'cancelled' AND reason = 'expired'"
    )
    assert events == 30
