"""The status cache on a real Redis: what it holds after committed transitions."""

from __future__ import annotations

import asyncio
import json

import redis.asyncio as aioredis

from engine.config import Settings
from engine.maintenance.count_reconciler import CountReconciler
from engine.readapi.dashboard import dashboard, job_states, queues, throughput
from engine.states import State
from engine.status.cache import StatusCache
from engine.status.keys import BASE_FIELD, Keys
from engine.store.changes import ChangeSet, Transition
from tests.status import drive


def qs(counts) -> dict[tuple[str, State], int]:
    return drive.nonzero(dict(counts))


def section_counts(section) -> dict[tuple[str, State], int]:
    return {(q.name, s): n for q in section.queues for s, n in q.counts if n}


async def test_counters_job_status_ring_and_events_follow_transitions(
    cached_client, db, cache: StatusCache, cache_settings: Settings
):
    await CountReconciler(cache_settings, db, cache).tick()
    a = await drive.submit(cached_client, 4, queue="a")
    b = await drive.submit(cached_client, 2, queue="b")
    await drive.complete(db, [cache], a[:2])
    await drive.fail(db, [cache], a[2:3])
    await cached_client.cancel(b[0])

    counts = await cache.read_counts()
    assert counts is not None, "counters written whole by the reconciler stay trusted"
    assert (
        qs(counts)
        == await drive.truth(db)
        == {
            ("a", State.COMPLETED): 2,
            ("a", State.FAILED): 1,
            ("a", State.QUEUED): 1,
            ("b", State.QUEUED): 1,
            ("b", State.CANCELLED): 1,
        }
    )
    cached = await cache.job_states(a + b)
    assert {i: c.state for i, c in cached.items()} == await drive.states(db)
    assert cached[a[0]].worker_id == drive.WORKER

    ring = await cache.read_ring()
    assert ring is not None
    assert sum(c for _, c, _ in ring.seconds) == 2
    assert sum(f for _, _, f in ring.seconds) == 1

    events = await cache.recent_events(50)
    assert events is not None
    assert (events[0].job_id, events[0].to_state) == (b[0], State.CANCELLED)
    ends = [e for e in events if e.from_state is State.RUNNING]
    assert {e.to_state for e in ends} == {State.COMPLETED, State.FAILED}
    assert all(e.run_ms is not None and e.run_ms >= 0 for e in ends)


async def test_events_are_published_on_the_namespace_channel(cached_client, db, cache: StatusCache):
    pubsub = cache.pubsub()
    await pubsub.subscribe(cache.keys.events_channel)
    try:
        ids = await drive.submit(cached_client, 3)
        await drive.complete(db, [cache], ids[:1])
        seen = []
        async with asyncio.timeout(30):
            while len(seen) < 5:  # 3 submitted, 1 claimed, 1 completed
                message = await pubsub.get_message(timeout=1.0)
                if message is not None:
                    seen.extend(json.loads(message["data"]))
    finally:
        await pubsub.aclose()
    assert [(e["job"], e["from"], e["to"]) for e in seen] == [
        (ids[0], None, "queued"),
        (ids[1], None, "queued"),
        (ids[2], None, "queued"),
        (ids[0], "queued", "running"),
        (ids[0], "running", "completed"),
    ]
    assert seen[3]["wait_ms"] >= 0 and seen[4]["run_ms"] >= 0


async def test_a_late_writer_never_overwrites_a_newer_status(cached_client, db, cache):
    [job] = await drive.submit(cached_client, 1)
    await drive.complete(db, [cache], [job])
    late = ChangeSet(
        transitions=[
            Transition(job, "default", "demo.noop", State.QUEUED, State.RUNNING, 1, "w", version=1)
        ]
    )
    await cache.after_commit(late)
    assert (await cache.job_states([job]))[job].state is State.COMPLETED


async def test_keys_live_in_the_namespace_and_the_urls_database(migrated, redis_server):
    settings = migrated.evolve(
        redis_url=f"redis://127.0.0.1:{redis_server.port}/3", namespace="ns-one"
    )
    cache = StatusCache(settings, retry_after_s=0)
    try:
        await cache.write_counts({("q", "queued"): 2}, "db-1")
    finally:
        await cache.close()
    admin = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    try:
        assert await admin.dbsize() == 0, "nothing written to database 0"
        await admin.select(3)
        assert sorted(await admin.keys("*")) == ["ns-one:counts", "ns-one:source"]
        assert await admin.hget("ns-one:counts", "q:queued") == "2"
    finally:
        await admin.aclose()


async def test_counters_without_the_marker_are_not_trusted(
    cached_client, db, cache, cache_settings
):
    await drive.submit(cached_client, 3, queue="m")
    assert await cache.read_counts() is None, "increments alone never make whole counters"
    section = await queues(db, cache_settings, cache=cache, broker_depths=_no_broker)
    assert section.source == "postgresql"
    assert section_counts(section) == {("m", State.QUEUED): 3}
    again = await queues(db, cache_settings, cache=cache, broker_depths=_no_broker)
    assert again.source == "redis", "the reader wrote PostgreSQL's counts back"
    assert section_counts(again) == {("m", State.QUEUED): 3}


async def test_drifted_counters_converge_after_one_reconciliation(
    cached_client, db, cache, cache_settings
):
    reconciler = CountReconciler(cache_settings, db, cache)
    await drive.submit(cached_client, 5, queue="d")
    await reconciler.tick()
    admin = aioredis.Redis.from_url(cache_settings.redis_url, decode_responses=True)
    try:
        await admin.hset(Keys(cache_settings.namespace).counts, "d:queued", 999)
        await admin.hset(Keys(cache_settings.namespace).counts, "ghost:failed", 7)
        assert await admin.hexists(Keys(cache_settings.namespace).counts, BASE_FIELD)
    finally:
        await admin.aclose()
    assert qs(await cache.read_counts()) != await drive.truth(db)
    await reconciler.tick()
    assert qs(await cache.read_counts()) == await drive.truth(db) == {("d", State.QUEUED): 5}


async def test_the_reconciler_runs_as_a_periodic_service(cached_client, db, cache, cache_settings):
    from engine.maintenance.base import ServiceGroup

    await drive.submit(cached_client, 2, queue="p")
    ticked = asyncio.Event()

    class Signalling(CountReconciler):
        async def tick(self) -> float:
            delay = await super().tick()
            if self.ticks >= 1:  # this is the second tick: the first one already counted
                ticked.set()
            return delay

    reconciler = Signalling(cache_settings, db, cache, period_s=0.05)
    group = ServiceGroup([reconciler])
    group.start()
    try:
        async with asyncio.timeout(30):
            await ticked.wait()
    finally:
        await group.stop()
    assert qs(await cache.read_counts()) == {("p", State.QUEUED): 2}


async def test_throughput_comes_from_the_ring_and_job_events_fill_what_it_lost(
    cached_client, db, cache, cache_settings
):
    await CountReconciler(cache_settings, db, cache).tick()  # the cache names its database
    ids = await drive.submit(cached_client, 6)
    await drive.complete(db, [cache], ids[:3])
    await drive.fail(db, [cache], ids[3:4], retryable=True)
    section = await throughput(db, cache=cache)
    assert section.source == "redis"
    assert (section.completed, section.failed) == (3, 1)
    assert section.failure_rate == 0.25
    assert sum(p.completed for p in section.per_second) == 3

    await cache.redis.delete(cache.keys.throughput)
    await drive.complete(db, [cache], ids[4:5])  # the ring starts again from now
    section = await throughput(db, cache=cache)
    assert (section.completed, section.failed) == (4, 1), "earlier runs read from job_events"


async def test_job_states_fall_back_to_postgresql_and_write_back(cached_client, db, cache):
    ids = await drive.submit(cached_client, 3)
    await drive.complete(db, [cache], ids[:1])
    await cache.redis.delete(cache.keys.job(ids[0]), cache.keys.job(ids[1]))
    assert set(await cache.job_states(ids)) == {ids[2]}
    assert await job_states(db, ids, cache=cache) == {
        ids[0]: State.COMPLETED,
        ids[1]: State.QUEUED,
        ids[2]: State.QUEUED,
    }
    assert {i: c.state for i, c in (await cache.job_states(ids)).items()} == {
        ids[0]: State.COMPLETED,
        ids[1]: State.QUEUED,
        ids[2]: State.QUEUED,
    }


async def test_dashboard_from_the_cache_matches_postgresql(
    cached_client, db, cache, cache_settings
):
    ids = await drive.submit(cached_client, 4, queue="z")
    await drive.complete(db, [cache], ids[:2])
    await CountReconciler(cache_settings, db, cache).tick()
    snap = await dashboard(db, cache_settings, cache=cache, broker_depths=_no_broker)
    assert snap.queues.source == "redis"
    assert section_counts(snap.queues) == await drive.truth(db)
    assert snap.events.source == "redis"
    assert snap.throughput.completed == 2
    without = await dashboard(db, cache_settings, cache=None, broker_depths=_no_broker)
    assert without.queues.source == "postgresql"
    assert section_counts(without.queues) == section_counts(snap.queues)
    assert [e.job_id for e in without.events.events[:3]] == [
        e.job_id for e in snap.events.events[:3]
    ]


async def _no_broker(settings, names):
    return {}


async def test_a_cache_about_another_database_is_not_believed(
    cached_client, db, cache, cache_settings
):
    """A restore, a new database under the same namespace, or a test's TRUNCATE: the
    cache still holds whole-looking counters, events and statuses of other jobs."""
    ids = await drive.submit(cached_client, 4, queue="old")
    await drive.complete(db, [cache], ids[:2])
    await CountReconciler(cache_settings, db, cache).tick()
    from tests.conftest import truncate

    await truncate(db)
    fresh = await drive.submit(cached_client, 1, queue="new")
    assert fresh == [1], "ids restarted: job 1's cached status is about another job"
    snap = await dashboard(db, cache_settings, cache=cache, broker_depths=_no_broker)
    assert snap.queues.source == "postgresql"
    assert section_counts(snap.queues) == {("new", State.QUEUED): 1}
    assert snap.throughput.completed == 0
    assert {e.job_id for e in snap.events.events} == {1}
    assert await job_states(db, [1], cache=cache) == {1: State.QUEUED}
    again = await dashboard(db, cache_settings, cache=cache, broker_depths=_no_broker)
    assert again.queues.source == "redis"
    assert section_counts(again.queues) == {("new", State.QUEUED): 1}


async def test_a_read_during_a_reconnect_trial_waits_for_it_instead_of_giving_up(
    db, cache: StatusCache, cache_settings: Settings
):
    """Just as Redis comes back, one trial call is under way: a dashboard read
    arriving then must use Redis once the trial succeeds, not fall back to
    PostgreSQL without repopulating (the next read would fall back again)."""
    await CountReconciler(cache_settings, db, cache).tick()
    cache.breaker.failure("connection refused")  # Redis was down
    assert cache.breaker.allow(), "retry_after_s=0: a trial is let through at once"
    assert cache.breaker.trial_in_flight

    reading = asyncio.create_task(cache.read_counts())
    await asyncio.sleep(0.05)
    assert not reading.done(), "the read waits for the trial under way"
    cache.breaker.success()  # the trial reached Redis
    counts = await asyncio.wait_for(reading, 5)
    assert counts is not None, "the read used Redis after the trial"
