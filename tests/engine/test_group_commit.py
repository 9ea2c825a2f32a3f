"""Group commit: concurrent one-job submits share a statement, each caller keeps its own answer.

Fifty callers on one client submit at once, as an async web app would; the
submits that arrive while a commit is under way are written together
(:mod:`engine.store.group_commit`). These tests hold that sharing to the
promises of a submit made alone: one caller's bad input fails only that
caller, with the message it would get alone; idempotency keys and queue
limits hold exactly; every returned id is a committed job with its event.
"""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from sqlalchemy import text

from engine.broker.admin import delete_namespace
from engine.broker.depth import queue_depths
from engine.broker.names import Names
from engine.client import Client
from engine.config import Settings
from engine.db.database import Database
from engine.db.driver import DriverDatabase
from engine.errors import ValidationError
from engine.queues.limits import QueueFull
from engine.runtime.wiring import open_client
from engine.specs import JobSpec, prepare
from engine.states import State
from engine.store.group_commit import GroupCommitter
from engine.store.submission import Submitted
from tests.support.runtime import isolated

CALLERS = 50


async def submitted_events(db: Database) -> dict[int, str]:
    """job id -> reason of its one "submitted" event (from no state)."""
    async with db.connection() as conn:
        rows = await conn.execute(
            text("SELECT job_id, reason FROM job_events WHERE from_state IS NULL ORDER BY id")
        )
        return {r.job_id: r.reason for r in rows}


async def job_count(db: Database) -> int:
    async with db.connection() as conn:
        return int((await conn.execute(text("SELECT count(*) FROM jobs"))).scalar_one())


async def test_fifty_concurrent_submits_each_get_their_own_committed_job(
    client: Client, db: Database
) -> None:
    results = await asyncio.gather(*(client.submit("demo.noop", {"n": i}) for i in range(CALLERS)))
    ids = [r.id for r in results]
    assert len(set(ids)) == CALLERS
    assert all(r.state is State.QUEUED and not r.duplicate for r in results)
    events = await submitted_events(db)
    assert sorted(events) == sorted(ids)
    assert set(events.values()) == {"submitted"}
    async with db.connection() as conn:
        rows = await conn.execute(text("SELECT id, payload->>'n' AS n FROM jobs"))
        payloads = {r.id: r.n for r in rows}
    assert [payloads[r.id] for r in results] == [str(i) for i in range(CALLERS)]


async def test_bad_submits_among_fifty_concurrent_good_ones_fail_alone(
    client: Client, db: Database
) -> None:
    await client.set_queue_limit("tight", 1)
    await client.submit("demo.noop", queue="tight")  # the queue is now full

    async def one(i: int) -> Submitted | BaseException:
        try:
            if i == 7:
                return await client.submit("demo.noop", depends_on=[999_999])
            if i == 19:
                return await client.submit("demo.noop", queue="tight")
            if i == 33:
                return await client.submit("demo.noop", priority="urgent-ish")
            return await client.submit("demo.noop", {"n": i})
        except Exception as exc:
            return exc

    outcomes = await asyncio.gather(*(one(i) for i in range(CALLERS)))
    unknown, full, invalid = outcomes[7], outcomes[19], outcomes[33]
    assert isinstance(unknown, ValidationError)
    assert str(unknown) == "job depends on job 999999, which does not exist"
    assert isinstance(full, QueueFull)
    assert (full.queue, full.limit, full.waiting, full.adding) == ("tight", 1, 1, 1)
    assert isinstance(invalid, ValidationError)
    assert "priority" in str(invalid)
    good = [o for i, o in enumerate(outcomes) if i not in (7, 19, 33)]
    assert all(isinstance(o, Submitted) for o in good)
    assert await job_count(db) == 1 + len(good)
    events = await submitted_events(db)
    assert {o.id for o in good if isinstance(o, Submitted)} <= set(events)


async def test_a_statement_failing_for_one_job_of_a_batch_fails_only_its_caller(
    migrated: Settings, db: Database
) -> None:
    # Validation keeps bad input out of a batch, so break one job past it: a priority
    # the jobs table's CHECK refuses makes the shared statement fail as a whole.
    (good,) = prepare([JobSpec("demo.noop")], workflow=False)
    bad = dataclasses.replace(good, priority=99)  # type: ignore[arg-type]
    driver = DriverDatabase(migrated, pool_size=1)
    committer = GroupCommitter(driver)
    try:
        jobs = [good] * 10 + [bad] + [good] * 10
        outcomes = await asyncio.gather(
            *(committer.submit(j) for j in jobs), return_exceptions=True
        )
    finally:
        await committer.close()
        await driver.close()
    assert isinstance(outcomes[10], Exception)
    assert "priority" in str(outcomes[10])
    landed = [o for i, o in enumerate(outcomes) if i != 10]
    assert all(isinstance(o, int) for o in landed)
    assert len(set(landed)) == 20
    assert await job_count(db) == 20
    assert set(await submitted_events(db)) == set(landed)


async def test_fifty_concurrent_callers_with_one_key_get_one_job(
    client: Client, db: Database
) -> None:
    results = await asyncio.gather(
        *(client.submit("demo.noop", {"n": i}, idempotency_key="order-42") for i in range(CALLERS))
    )
    assert len({r.id for r in results}) == 1
    assert sum(not r.duplicate for r in results) == 1
    assert await job_count(db) == 1


async def test_fifty_concurrent_callers_fill_a_limited_queue_exactly(
    client: Client, db: Database
) -> None:
    await client.set_queue_limit("limited", 20)

    async def one(i: int) -> Submitted | None:
        try:
            return await client.submit("demo.noop", {"n": i}, queue="limited")
        except QueueFull:
            return None

    outcomes = await asyncio.gather(*(one(i) for i in range(CALLERS)))
    admitted = [o for o in outcomes if o is not None]
    assert len(admitted) == 20
    assert await job_count(db) == 20


async def test_a_limit_set_after_a_queue_was_used_is_honoured_by_one_job_submits(
    client: Client, db: Database
) -> None:
    await client.submit("demo.noop", queue="later")
    await client.set_queue_limit("later", 2)
    await client.submit("demo.noop", queue="later")
    with pytest.raises(QueueFull):
        await client.submit("demo.noop", queue="later")
    assert await job_count(db) == 2


async def test_closing_an_open_client_publishes_what_its_submits_left_in_flight(
    migrated: Settings, db: Database
) -> None:
    # submit returns at the commit; the publish follows in the background, and leaving
    # open_client waits for it, so a short-lived producer (the CLI) loses no message.
    settings = isolated(migrated)
    try:
        async with open_client(settings) as client:
            jobs = await asyncio.gather(*(client.submit("demo.noop") for _ in range(CALLERS)))
            jobs.append(await client.submit("demo.noop"))
        depths = await queue_depths(settings, ["default"])
    finally:
        await delete_namespace(settings, Names(settings.namespace), ["default"])
    assert len({j.id for j in jobs}) == CALLERS + 1
    assert depths["default"].ready == CALLERS + 1
