"""The dead-letter queue stays consistent with PostgreSQL: retried, replayed, pruned and
purged failures lose their copy; current ones keep theirs, in order."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from sqlalchemy import text

from engine.broker.publisher import Publisher
from engine.client import Client
from engine.config import Settings
from engine.db.database import Database
from engine.errors import ServiceUnavailable
from engine.maintenance.dead_letters import DeadLetterService, sweep
from engine.specs import JobSpec
from engine.states import State
from tests.deadletters.conftest import copies_in_broker, fail_jobs
from tests.support.flow import state_of
from tests.support.runtime import LIVENESS_S, running_engine, wait_until_settled
from tests.support.services import free_port


async def test_a_retried_job_loses_its_copy_and_the_others_keep_theirs_in_order(
    space: Settings, db: Database, dead_client: Client, publisher: Publisher
) -> None:
    ids = await fail_jobs(dead_client, publisher, 5)
    assert [j for j, _ in await copies_in_broker(space)] == ids

    await dead_client.retry(ids[1])
    service = DeadLetterService(space, db)
    assert await service.due()
    await service.tick()

    assert [j for j, _ in await copies_in_broker(space)] == [ids[0], *ids[2:]]
    listed = {d.job_id: d.in_broker for d in await dead_client.dead_letters()}
    assert listed == {ids[0]: True, ids[2]: True, ids[3]: True, ids[4]: True}


async def test_a_pruned_failure_loses_its_copy_at_the_engines_next_check(
    space: Settings, db: Database, dead_client: Client, publisher: Publisher
) -> None:
    old = await fail_jobs(dead_client, publisher, 3)
    async with db.transaction() as conn:
        await conn.execute(
            text(
                "UPDATE jobs SET finished_at = now() - interval '3 days' "
                "WHERE id = ANY(CAST(:ids AS bigint[]))"
            ),
            {"ids": old},
        )
    new = await fail_jobs(dead_client, publisher, 2)
    service = DeadLetterService(space, db)
    await service.tick()  # the engine's first sweep, before the prune
    assert not await service.due()

    result = await dead_client.prune("1d")

    assert result.jobs[State.FAILED] == 3
    assert await service.due()
    await service.tick()
    assert [j for j, _ in await copies_in_broker(space)] == new
    assert not await service.due()


async def test_a_retry_while_rabbitmq_is_down_is_swept_once_it_answers(
    space: Settings, db: Database, dead_client: Client, publisher: Publisher
) -> None:
    ids = await fail_jobs(dead_client, publisher, 3)
    unreachable = space.evolve(amqp_url=f"amqp://guest:guest@127.0.0.1:{free_port()}/%2F")
    offline = Publisher(unreachable)
    try:
        async with Client(unreachable, database=db, hooks=[offline]) as client:
            await client.retry(ids[0])  # commits; the publish after it only logs
            with pytest.raises(ServiceUnavailable):
                await client.sweep_dead()
            with pytest.raises(ServiceUnavailable):
                await client.purge_dead()  # nothing recorded when the broker is down
    finally:
        await offline.close()
    assert await state_of(db, ids[0]) is State.QUEUED
    assert [j for j, _ in await copies_in_broker(space)] == ids  # nothing lost meanwhile

    service = DeadLetterService(space, db)
    await service.tick()

    assert [j for j, _ in await copies_in_broker(space)] == ids[1:]


async def test_sweeps_of_several_engines_take_turns_and_agree(
    space: Settings, db: Database, dead_client: Client, publisher: Publisher
) -> None:
    ids = await fail_jobs(dead_client, publisher, 20)
    for job_id in ids[:5]:
        await dead_client.retry(job_id)
    other = Database(space)
    try:
        turns = await asyncio.gather(
            sweep(space, db, wait_s=60), sweep(space, other, wait_s=60), sweep(space, db)
        )
    finally:
        await other.close()
    assert sum(t.removed for t in turns) == 5
    assert [t.kept for t in turns if t.swept][:2] == [15, 15]
    assert [j for j, _ in await copies_in_broker(space)] == ids[5:]


async def test_copies_of_the_engine_s_real_workers_follow_retries(
    space: Settings, db: Database
) -> None:
    async with running_engine(space, workers=1) as (_, client):
        flaky = (await client.submit("demo.flaky", {"fail_times": 1}, max_retries=0)).id
        failing = (await client.submit("demo.fail", {"probability": 1.0}, max_retries=0)).id
        await wait_until_settled(db, [flaky, failing])
        await _until(space, lambda copies: sorted(j for j, _ in copies) == [flaky, failing])

        await client.retry(flaky)  # runs again, completes; its copy is stale

        assert (await wait_until_settled(db, [flaky]))[flaky] is State.COMPLETED
        copies = await _until(space, lambda copies: [j for j, _ in copies] == [failing])
    assert copies == [(failing, 1)]


async def _until(
    settings: Settings, ok: Callable[[list[tuple[int | None, int | None]]], bool]
) -> list[tuple[int | None, int | None]]:
    """The dead-letter queue's copies once ``ok`` holds for them (bounded wait)."""
    deadline = time.monotonic() + LIVENESS_S
    while True:
        copies = await copies_in_broker(settings)
        if ok(copies):
            return copies
        assert time.monotonic() < deadline, f"dead-letter copies still {copies}"
        await asyncio.sleep(0.2)


async def test_real_workers_failing_more_jobs_than_the_bound_leave_the_newest_copies(
    space: Settings, db: Database
) -> None:
    bounded = space.evolve(dead_letter_max_length=5)
    async with running_engine(bounded, workers=1) as (_, client):
        ids = [
            s.id
            for s in await client.submit_many(
                [JobSpec("demo.fail", {"probability": 1.0}, max_retries=0)] * 30
            )
        ]
        assert set((await wait_until_settled(db, ids)).values()) == {State.FAILED}
        copies = await _until(bounded, lambda copies: len(copies) == 5)
        done = await client.sweep_dead()
        letters = await client.dead_letters()
    assert done.kept == 5
    assert len(letters) == 30
    in_broker = sorted(d.job_id for d in letters if d.in_broker)
    assert in_broker == sorted(j for j, _ in copies)
    finished = {d.job_id: d.failed_at for d in letters}
    assert min(finished[i] for i in in_broker) >= max(  # type: ignore[operator]
        finished[i] for i in ids if i not in in_broker
    )


async def test_a_sweep_right_after_another_sees_every_copy_it_put_back(
    space: Settings, db: Database, dead_client: Client, publisher: Publisher
) -> None:
    """Requeueing is asynchronous in RabbitMQ: a sweep once returned before its copies
    were ready again, and the next one, at once, found an empty queue and recorded
    every failure as out of the broker."""
    ids = []
    for _ in range(6):
        ids += await fail_jobs(dead_client, publisher, 500)
    first = await sweep(space, db)
    second = await sweep(space, db)
    assert (first.seen, second.seen, second.kept) == (3000, 3000, 3000)
    assert all(d.in_broker for d in await dead_client.dead_letters(limit=3000))
