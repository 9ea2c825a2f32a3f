"""Pausing a queue stops new starts everywhere; resuming publishes its jobs again."""

import subprocess
import sys

import pytest

from engine.client import Client
from engine.db.database import Database
from engine.errors import UserError
from engine.queues import pausing
from engine.states import State
from engine.store import transitions
from tests.ops.conftest import RecordingHook
from tests.support.flow import WORKER, claim, complete, state_of


async def _claim(db: Database, job_id: int, attempt: int = 0):
    return await db.run(lambda conn: transitions.claim(conn, [(job_id, attempt)], WORKER))


async def test_a_paused_queue_accepts_jobs_but_no_claim_starts_them(client, db):
    await client.pause_queue("mail")
    job = await client.submit("demo.noop", queue="mail")
    assert job.state is State.QUEUED

    claimed, refused, _ = await _claim(db, job.id)
    assert claimed == []
    assert [r.reason for r in refused] == ["queue mail is paused"]
    assert await state_of(db, job.id) is State.QUEUED

    # Other queues are not affected.
    other = await client.submit("demo.noop", queue="reports")
    await claim(db, other.id)


async def test_resume_yields_every_queued_job_as_runnable_and_claims_work_again(client, db):
    await client.pause_queue("mail")
    ids = [(await client.submit("demo.noop", queue="mail")).id for _ in range(5)]
    await client.submit("demo.noop", queue="elsewhere")
    change = await db.run(lambda conn: pausing.resume_queue(conn, "mail"))
    assert change.changed and not change.queue.paused

    async with db.connection() as conn:
        changes = await pausing.queued_runnables(conn, "mail")
    assert [(r.job_id, r.attempt, r.queue) for r in changes.runnables] == [
        (i, 0, "mail") for i in ids
    ]
    for i in ids:
        await claim(db, i)
        assert await state_of(db, i) is State.RUNNING


async def test_resume_hands_queued_jobs_to_the_hooks_in_batches(migrated, db):
    hook = RecordingHook()
    client = Client(migrated, database=db, hooks=[hook])
    await client.pause_queue("mail")
    ids = [(await client.submit("demo.noop", queue="mail")).id for _ in range(7)]
    started = await client.submit("demo.noop", queue="mail")
    await client.resume_queue("mail")  # let one start, then pause again
    await complete(db, started.id)
    await client.pause_queue("mail")
    hook.calls.clear()

    change = await pausing.resume_and_republish(db, [hook], "mail", batch=3)
    assert change.republished == 7
    assert [len(c.runnables) for c in hook.calls] == [3, 3, 1]
    assert sorted(job_id for job_id, _, _ in hook.runnables) == ids


async def test_pause_lives_in_the_database_for_every_client(migrated, client, db):
    await client.submit("demo.noop", queue="mail")
    first = await client.pause_queue("mail")
    assert first.changed and first.queue.paused
    again = await client.pause_queue("mail")
    assert not again.changed

    other_db = Database(migrated)
    try:
        async with Client(migrated, database=other_db) as other:
            queues = {q.name: q for q in await other.queues()}
            assert queues["mail"].paused and queues["mail"].waiting == 1
            counts = {q.queue: q for q in await other.queue_counts()}
            assert counts["mail"].paused
    finally:
        await other_db.close()


async def test_a_queue_can_be_paused_before_its_first_job(client, db):
    await client.pause_queue("later")
    job = await client.submit("demo.noop", queue="later")
    claimed, _, _ = await _claim(db, job.id)
    assert claimed == []


async def test_resume_of_an_unknown_queue_or_a_bad_name_is_refused(client):
    with pytest.raises(UserError, match="queue 'nosuch' does not exist"):
        await client.resume_queue("nosuch")
    with pytest.raises(UserError, match="is not a queue name"):
        await client.pause_queue("-bad name")
    assert await client.queues() == []


def _cli(env, *args):
    return subprocess.run(
        [sys.executable, "-m", "queueconsole", *args], env=env, capture_output=True, text=True
    )


async def test_cli_pause_resume_and_status_show_it(cli_env, client):
    await client.submit("demo.noop", queue="mail")
    out = _cli(cli_env, "pause", "mail")
    assert out.returncode == 0, out.stderr
    assert "paused" in out.stdout
    status = _cli(cli_env, "status")
    assert "mail (paused)" in status.stdout
    listed = _cli(cli_env, "queues", "--json")
    assert '"paused": true' in listed.stdout
    out = _cli(cli_env, "resume", "mail", "--json")
    assert out.returncode == 0, out.stderr
    assert '"paused": false' in out.stdout
    bad = _cli(cli_env, "resume", "nosuch")
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0 and "nosuch" in bad.stderr
