"""End to end: Redis stops while the engine runs jobs, then comes back.

The real engine (supervisor, worker processes, broker) writes the status
cache on a private Redis. Stopping that Redis must not stop a single job;
``status`` keeps answering from PostgreSQL; once Redis returns, the engine's
count reconciler and the workers' caches bring it back to the truth.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable

import pytest

from engine.config import Settings
from engine.db.database import Database
from engine.readapi.dashboard import dashboard, database_source, job_states
from engine.specs import JobSpec
from engine.states import State
from engine.status.cache import StatusCache
from tests.status import drive
from tests.status.test_cache import section_counts

pytest.importorskip("engine.runtime.engine", reason="the worker runtime is not installed")
runtime = pytest.importorskip("tests.support.runtime")

pytestmark = pytest.mark.slow

QUEUE = "status-e2e"


async def _no_broker(settings, names):
    return {}


async def eventually(check: Callable[[], Awaitable[bool]]) -> None:
    """Wait until another process has done something (bounded: a hang, not a speed test)."""
    async with asyncio.timeout(runtime.LIVENESS_S):
        for _ in itertools.count():
            if await check():
                return
            await asyncio.sleep(0.1)


async def whole(cache: StatusCache, source: str | None) -> bool:
    return await cache.read_counts(source) is not None


async def all_completed(db: Database, cache: StatusCache, ids: list[int]) -> bool:
    return await job_states(db, ids, cache=cache) == dict.fromkeys(ids, State.COMPLETED)


async def counts_from_redis(
    db: Database, settings: Settings, cache: StatusCache, expected: int
) -> bool:
    snap = await dashboard(db, settings, cache=cache, broker_depths=_no_broker)
    return snap.queues.source == "redis" and section_counts(snap.queues) == {
        (QUEUE, State.COMPLETED): expected
    }


async def test_redis_stopped_mid_run_the_engine_keeps_running_jobs(
    migrated: Settings, db: Database, redis_server
):
    settings = runtime.isolated(migrated).evolve(
        redis_url=f"redis://127.0.0.1:{redis_server.port}/0", count_reconcile_s=0.5
    )
    reader = StatusCache(settings, retry_after_s=0)  # what `queueconsole status` holds
    try:
        async with runtime.running_engine(settings, queues=(QUEUE,), workers=2) as (_, client):
            specs = [JobSpec("demo.sleep", {"seconds": 0.01}, queue=QUEUE) for _ in range(300)]
            ids = [s.id for s in await client.submit_many(specs)]
            await runtime.wait_for(db, "SELECT count(*) >= 50 FROM jobs WHERE state = 'completed'")

            redis_server.stop()
            during = await dashboard(db, settings, cache=reader, broker_depths=_no_broker)
            assert not during.service("redis").up
            assert during.queues.available and during.queues.source == "postgresql"
            settled = await runtime.wait_until_settled(db, ids)
            assert set(settled.values()) == {State.COMPLETED}, "not one job stopped"
            assert await runtime.completed_twice(db) == []
            after = await dashboard(db, settings, cache=reader, broker_depths=_no_broker)
            assert section_counts(after.queues) == {(QUEUE, State.COMPLETED): 300}

            redis_server.start()  # empty: everything it held is gone
            source = await database_source(db)
            await eventually(lambda: whole(reader, source))  # the engine's reconciler
            assert drive.nonzero(await reader.read_counts(source)) == await drive.truth(db)

            more = [
                s.id for s in await client.submit_many([JobSpec("demo.noop", queue=QUEUE)] * 20)
            ]
            await runtime.wait_until_settled(db, more)
            # Each worker that lost writes invalidates what may be incomplete on its first
            # write after the outage; the next reconciliation makes the counters whole again.
            await eventually(lambda: counts_from_redis(db, settings, reader, 320))
            await eventually(lambda: all_completed(db, reader, ids + more))
            assert len(await reader.job_states(ids + more, source)) == 320, "written back"
            back = await dashboard(db, settings, cache=reader, broker_depths=_no_broker)
            assert back.service("redis").up
            assert back.throughput.completed == 320, "the ring, and job_events before it"
    finally:
        await reader.close()
