"""Failures of workers, broker and handlers against the real services: nothing is lost,
nothing completes twice."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

from sqlalchemy import text

from engine.broker.admin import purge
from engine.broker.names import Names
from engine.config import Settings, to_environ
from engine.db.database import Database
from engine.specs import JobSpec
from engine.states import State
from tests.support.flow import events_of
from tests.support.runtime import (
    completed_twice,
    isolated,
    running_engine,
    wait_for,
    wait_until_settled,
)


async def test_kill_9_of_a_worker_mid_job_hands_the_job_to_another(
    migrated: Settings, db: Database
) -> None:
    settings = isolated(migrated)
    async with running_engine(settings, workers=2) as (engine, client):
        victim = await client.submit("demo.sleep", {"seconds": 3})
        others = await client.submit_many([JobSpec("demo.sleep", {"seconds": 0.2})] * 10)
        worker_id = await wait_for(
            db,
            "SELECT worker_id FROM jobs WHERE id = :id AND state = 'running'",
            {"id": victim.id},
        )
        assert engine.supervisor.kill(worker_id)
        final = await wait_until_settled(db, [victim.id, *(o.id for o in others)])
    assert set(final.values()) == {State.COMPLETED}
    trail = await events_of(db, victim.id)
    assert any(to == "retrying" and "WorkerLost" in (reason or "") for _, to, reason in trail)
    assert await completed_twice(db) == []


async def test_purging_the_broker_queue_under_load_loses_no_job(
    migrated: Settings, db: Database
) -> None:
    settings = isolated(migrated)
    async with running_engine(settings, workers=2, reconcile_after_s=1.0) as (_, client):
        jobs = await client.submit_many([JobSpec("demo.sleep", {"seconds": 0.01})] * 400)
        await wait_for(db, "SELECT count(*) >= 20 FROM jobs WHERE state = 'completed'")
        purged = await purge(settings, ["default"])
        final = await wait_until_settled(db, [j.id for j in jobs])
    assert sum(purged.values()) > 0, "the purge should have removed waiting messages"
    assert set(final.values()) == {State.COMPLETED}
    assert await completed_twice(db) == []


async def test_sigterm_drains_a_worker_and_hands_back_unfinished_work(
    migrated: Settings, db: Database
) -> None:
    settings = isolated(migrated)
    async with running_engine(settings, workers=0) as (_, client):
        long = await client.submit("demo.sleep", {"seconds": 30})
        env = {**os.environ, **to_environ(settings)}
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "engine.worker",
            "--grace-s",
            "0.5",
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            await wait_for(db, "SELECT state = 'running' FROM jobs WHERE id = :id", {"id": long.id})
            proc.send_signal(signal.SIGTERM)
            async with asyncio.timeout(60):
                _, stderr = await proc.communicate()
            code = proc.returncode
        finally:
            if proc.returncode is None:
                proc.kill()
        async with db.connection() as conn:
            row = (
                await conn.execute(
                    text("SELECT state, attempts, budget_base FROM jobs WHERE id = :id"),
                    {"id": long.id},
                )
            ).one()
            worker = (await conn.execute(text("SELECT state, stopped_at FROM workers"))).one()
    assert code == 0, stderr.decode()
    assert row.state in ("retrying", "queued")  # handed back, to run again
    assert row.budget_base == 1  # the interrupted attempt does not count against retries
    assert worker.stopped_at is not None
    trail = await events_of(db, long.id)
    assert any("worker stopped before the run finished" in (r or "") for *_, r in trail)


async def test_a_job_past_its_timeout_is_stopped_and_retried_then_fails(
    migrated: Settings, db: Database
) -> None:
    settings = isolated(migrated)
    async with running_engine(settings, workers=1) as (_, client):
        slow = await client.submit(
            "demo.cpu", {"seconds": 60}, timeout_s=0.5, max_retries=1, backoff_s=0.05
        )
        after = await client.submit("demo.noop")
        final = await wait_until_settled(db, [slow.id, after.id])
        detail = await client.job(slow.id)
    assert final[slow.id] is State.FAILED
    assert final[after.id] is State.COMPLETED  # the slot came back
    assert detail.attempts == 2
    assert detail.error is not None and detail.error.type == "JobTimeout"
    timeouts = [r for _, to, r in await events_of(db, slow.id) if "JobTimeout" in (r or "")]
    assert len(timeouts) == 2


async def test_exhausted_retries_dead_letter_block_dependents_and_retry_releases_them(
    migrated: Settings, db: Database
) -> None:
    settings = isolated(migrated)
    async with running_engine(settings, workers=1) as (_, client):
        flow = await client.submit_workflow(
            [
                JobSpec("demo.flaky", {"fail_times": 3}, max_retries=2, backoff_s=0.05, ref="a"),
                JobSpec("demo.noop", depends_on=("a",), ref="b"),
            ]
        )
        a, b = flow.ids["a"], flow.ids["b"]
        await wait_until_settled(db, [a])
        await wait_for(db, "SELECT state = 'blocked' FROM jobs WHERE id = :id", {"id": b})
        dead = Names(settings.namespace).dead_letter_queue
        assert await _dead_letters(settings, dead) >= 1
        await client.retry(a)
        final = await wait_until_settled(db, [a, b])
    assert final == {a: State.COMPLETED, b: State.COMPLETED}
    assert await completed_twice(db) == []


async def _dead_letters(settings: Settings, queue: str) -> int:
    from engine.broker.connection import connect

    conn = await connect(settings, "test-dead-letters")
    try:
        channel = await conn.channel()
        declared = await channel.queue_declare(queue, passive=True)
        return int(declared.method.message_count)
    finally:
        await conn.close()


async def test_a_type_no_worker_knows_stays_visible_with_the_reason(
    migrated: Settings, db: Database
) -> None:
    settings = isolated(migrated)
    async with running_engine(settings, workers=1) as (_, client):
        job = await client.submit("billing.nobody_registered_this")
        reason = await wait_for(
            db,
            "SELECT wait_reason FROM jobs WHERE id = :id AND state = 'retrying'",
            {"id": job.id},
        )
    assert "no handler for job type 'billing.nobody_registered_this'" in reason


async def test_cancelling_a_running_job_stops_it_and_frees_the_worker(
    migrated: Settings, db: Database
) -> None:
    settings = isolated(migrated)
    async with running_engine(settings, workers=1) as (_, client):
        long = await client.submit("demo.sleep", {"seconds": 300})
        await wait_for(db, "SELECT state = 'running' FROM jobs WHERE id = :id", {"id": long.id})
        await client.cancel(long.id)
        after = await client.submit("demo.noop")
        final = await wait_until_settled(db, [long.id, after.id])
    assert final == {long.id: State.CANCELLED, after.id: State.COMPLETED}


async def test_a_stale_message_is_acked_and_noted(migrated: Settings, db: Database) -> None:
    settings = isolated(migrated)
    async with running_engine(settings, workers=1) as (engine, client):
        job = await client.submit("demo.noop")
        await wait_until_settled(db, [job.id])
        # The reconciler or a duplicate publish can deliver a finished job again.
        from engine.store.changes import Runnable

        await engine.hooks[0].publish([Runnable(job.id, 0, "default", 1)])  # type: ignore[attr-defined]
        note = await wait_for(
            db,
            "SELECT reason FROM job_events WHERE job_id = :id AND from_state = to_state",
            {"id": job.id},
        )
        assert await completed_twice(db) == []
    assert note


async def test_a_worker_whose_supervisor_died_while_it_started_drains_and_exits(
    migrated: Settings, db: Database
) -> None:
    # A supervisor killed between spawning a worker and the worker's start-up left it
    # with init as parent: read from getppid() then, its "supervisor" looked alive forever.
    settings = isolated(migrated)
    env = {**os.environ, **to_environ(settings)}
    gone = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await gone.wait()  # a pid that was a process and is no more, as a killed supervisor's
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "engine.worker",
        "--supervisor-id",
        "sup-gone",
        "--supervisor-pid",
        str(gone.pid),
        "--grace-s",
        "0.5",
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(60):
            _, stderr = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
    assert proc.returncode == 0, stderr.decode()
    assert f"supervisor (pid {gone.pid}) is gone" in stderr.decode()
