"""Redis flushed, full, unreachable or stopped: nothing is lost and views stay correct.

Each test runs its own redis-server (tests/support/services.private_redis), so
flushing, filling and stopping it never touches the machine's shared Redis.
"""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from engine.client import Client
from engine.maintenance.count_reconciler import CountReconciler
from engine.readapi.dashboard import dashboard, job_states
from engine.states import State
from engine.status.cache import StatusCache
from tests.status import drive
from tests.status.test_cache import section_counts
from tests.support.services import free_port


async def _no_broker(settings, names):
    return {}


def on_private(settings, server, db_index: int = 0):
    return settings.evolve(redis_url=f"redis://127.0.0.1:{server.port}/{db_index}")


async def test_an_unreachable_redis_costs_one_attempt_and_reads_come_from_postgresql(migrated, db):
    settings = migrated.evolve(redis_url=f"redis://:hunter2@127.0.0.1:{free_port()}/0")
    cache = StatusCache(settings, retry_after_s=3600)  # no second try during this test
    try:
        async with Client(settings, database=db, hooks=[cache]) as client:
            ids = await drive.submit(client, 30, queue="u")
            await drive.complete(db, [cache], ids[:10])
            await client.cancel(ids[10])
        assert cache.breaker.attempts == 1, "after the first failure every commit skipped Redis"
        assert cache.breaker.failures == 1
        assert cache.stale
        snap = await dashboard(db, settings, cache=cache, broker_depths=_no_broker)
        redis_health = snap.service("redis")
        assert redis_health is not None and not redis_health.up
        assert "hunter2" not in (redis_health.url + (redis_health.error or ""))
        assert "***" in redis_health.url
        assert snap.queues.source == "postgresql"
        assert section_counts(snap.queues) == await drive.truth(db)
        assert snap.events.source == "postgresql" and snap.events.events
        assert snap.throughput.source == "postgresql" and snap.throughput.completed == 10
        assert await job_states(db, ids[:11], cache=cache) == {
            **dict.fromkeys(ids[:10], State.COMPLETED),
            ids[10]: State.CANCELLED,
        }
    finally:
        await cache.close()


async def test_redis_stopped_mid_run_then_back(migrated, db, redis_server):
    settings = on_private(migrated, redis_server)
    cache = StatusCache(settings, retry_after_s=0)
    reconciler = CountReconciler(settings, db, cache)
    try:
        async with Client(settings, database=db, hooks=[cache]) as client:
            ids = await drive.submit(client, 200, queue="s")
            await reconciler.tick()
            await drive.complete(db, [cache], ids[:50])

            redis_server.stop()
            await drive.complete(db, [cache], ids[50:120])  # the job path never stops
            await drive.fail(db, [cache], ids[120:130])
            await client.cancel(ids[130])
            down = await dashboard(db, settings, cache=cache, broker_depths=_no_broker)
            assert not down.service("redis").up
            assert down.queues.source == "postgresql"
            assert section_counts(down.queues) == await drive.truth(db)
            assert down.throughput.completed == 120 and down.throughput.failed == 10
            assert (await job_states(db, ids[:1], cache=cache)) == {ids[0]: State.COMPLETED}

            redis_server.start()
            first = await dashboard(db, settings, cache=cache, broker_depths=_no_broker)
            assert first.service("redis").up
            assert section_counts(first.queues) == await drive.truth(db)
            await drive.complete(db, [cache], ids[131:140])
            again = await dashboard(db, settings, cache=cache, broker_depths=_no_broker)
            assert again.queues.source == "redis", "the first read after the outage repopulated"
            assert section_counts(again.queues) == await drive.truth(db)
            assert again.throughput.completed == 129
            assert await job_states(db, ids, cache=cache) == await drive.states(db)
            assert len(await cache.job_states(ids)) == len(ids), "every status written back"
    finally:
        await cache.close()


async def test_statuses_cached_before_lost_writes_are_not_believed(migrated, db, redis_server):
    """Redis kept its data but this process could not write for a while (here: it
    was refused by a password): the job hashes it could not update are stale."""
    settings = on_private(migrated, redis_server)
    cache = StatusCache(settings, retry_after_s=0)
    admin = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    try:
        async with Client(settings, database=db, hooks=[cache]) as client:
            ids = await drive.submit(client, 3)
            await CountReconciler(settings, db, cache).tick()
            assert {c.state for c in (await cache.job_states(ids)).values()} == {State.QUEUED}

            await admin.config_set("requirepass", "letmein")
            await admin.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
            await drive.complete(db, [cache], ids[:2])  # these writes are refused
            assert cache.stale
            await admin.config_set("requirepass", "")

            other = StatusCache(settings, retry_after_s=0)  # another process's view
            try:
                assert await job_states(db, ids, cache=cache) == await drive.states(db)
                assert await other.read_counts() is None, "the counters were marked partial"
                believed = await other.job_states(ids)
                assert {i: c.state for i, c in believed.items()} == await drive.states(db)
            finally:
                await other.close()
    finally:
        await admin.aclose()
        await cache.close()


async def test_flushall_mid_run_of_5000_jobs_loses_nothing(migrated, db, redis_server):
    settings = on_private(migrated, redis_server)
    cache = StatusCache(settings, retry_after_s=0)
    admin = aioredis.Redis.from_url(redis_server.url)
    try:
        async with Client(settings, database=db, hooks=[cache]) as client:
            ids = await drive.submit(client, 5000, queue="f")
            await CountReconciler(settings, db, cache).tick()
            await drive.complete(db, [cache], ids[:2000])
            await drive.fail(db, [cache], ids[2000:2200])
            await admin.flushall()
            await drive.complete(db, [cache], ids[2200:4000])
            await drive.fail(db, [cache], ids[4000:4100], retryable=True)

        truth = await drive.truth(db)
        assert truth == {
            ("f", State.COMPLETED): 3800,
            ("f", State.FAILED): 200,
            ("f", State.RETRYING): 100,
            ("f", State.QUEUED): 900,
        }, "PostgreSQL holds every job"
        assert await cache.read_counts() is None, "counters after a flush are partial"
        before = await dashboard(db, settings, cache=cache, broker_depths=_no_broker)
        assert section_counts(before.queues) == truth, "PostgreSQL answers meanwhile"

        await admin.flushall()  # and again: one reconciliation is all it takes
        await CountReconciler(settings, db, cache).tick()
        snap = await dashboard(db, settings, cache=cache, broker_depths=_no_broker)
        assert snap.queues.source == "redis"
        assert section_counts(snap.queues) == truth
        assert snap.throughput.completed == 3800
        assert snap.throughput.failed == 300
        assert await job_states(db, ids, cache=cache) == await drive.states(db)
    finally:
        await admin.aclose()
        await cache.close()


@pytest.mark.slow
async def test_16mb_allkeys_lru_under_100000_transitions(migrated, db, redis_server):
    """The documented policy: a capped cache that evicts rather than refuses writes."""
    redis_server.stop()
    redis_server.start("--maxmemory", "16mb", "--maxmemory-policy", "allkeys-lru")
    settings = on_private(migrated, redis_server)
    cache = StatusCache(settings, retry_after_s=0)
    admin = aioredis.Redis.from_url(redis_server.url)
    filler = b"x" * 10_000
    try:
        async with Client(settings, database=db, hooks=[cache]) as client:
            ids: list[int] = []
            for queue in ("m1", "m2"):
                ids += await drive.submit(client, 20_000, queue=queue)  # 40,000 transitions
            await CountReconciler(settings, db, cache).tick()
            for start in range(0, 30_000, 3000):
                chunk = ids[start : start + 3000]
                # other users of the cache push it past its cap while jobs run
                await admin.mset({f"filler:{start}:{i}": filler for i in range(300)})
                await drive.complete(db, [cache], chunk[:2500])  # 2 transitions each
                await drive.fail(db, [cache], chunk[2500:])  # 2 transitions each
        # 40,000 + 30,000 claims + 30,000 ends = 100,000 transitions
        info = await admin.info("stats")
        assert info["evicted_keys"] > 0, "the test must actually make Redis evict"
        assert not cache.stale, "allkeys-lru never refused a write"

        await CountReconciler(settings, db, cache).tick()
        snap = await dashboard(db, settings, cache=cache, broker_depths=_no_broker)
        truth = await drive.truth(db)
        assert section_counts(snap.queues) == truth
        assert snap.queues.totals()[State.COMPLETED] == 25_000
        assert snap.queues.totals()[State.FAILED] == 5_000
        assert snap.queues.totals()[State.QUEUED] == 10_000
        assert await job_states(db, ids, cache=cache) == await drive.states(db)
    finally:
        await admin.aclose()
        await cache.close()


async def test_noeviction_would_refuse_writes_but_never_the_job_path(migrated, db, redis_server):
    """Why not noeviction: a full cache answers OOM to every write; the commits still
    succeed, but the cache is stale until memory is freed."""
    redis_server.stop()
    redis_server.start("--maxmemory", "2mb", "--maxmemory-policy", "noeviction")
    settings = on_private(migrated, redis_server)
    cache = StatusCache(settings, retry_after_s=0)
    admin = aioredis.Redis.from_url(redis_server.url)
    try:
        try:
            for i in range(1000):
                await admin.set(f"filler:{i}", b"x" * 10_000)
        except ResponseError as exc:
            assert "maxmemory" in str(exc)
        async with Client(settings, database=db, hooks=[cache]) as client:
            ids = await drive.submit(client, 50)
            await drive.complete(db, [cache], ids[:10])
        assert cache.stale and cache.breaker.failures > 0
        assert "maxmemory" in (cache.breaker.last_error or "")
        snap = await dashboard(db, settings, cache=cache, broker_depths=_no_broker)
        assert section_counts(snap.queues) == await drive.truth(db)
    finally:
        await admin.aclose()
        await cache.close()
