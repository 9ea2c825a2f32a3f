"""What the dashboard shows, section by section, and how it degrades."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from sqlalchemy import text

from engine.config import Settings
from engine.db.database import Database
from engine.maintenance.count_reconciler import CountReconciler
from engine.readapi.dashboard import dashboard, failure_groups, latency, workers
from engine.snapshots import BrokerDepth, WorkerBeat
from engine.states import State
from tests.status import drive
from tests.support.services import free_port

# Wait t - r seconds, then run r seconds, ending when the job finished.
SET_TIMES = text(
    "UPDATE jobs SET queued_at = finished_at - make_interval(secs => CAST(:t AS float8)), "
    "started_at = finished_at - make_interval(secs => CAST(:r AS float8)) WHERE id = :id"
)


async def _no_broker(settings, names):
    return {}


async def test_latency_percentiles_per_type_over_recent_runs(client, db):
    a = await drive.submit(client, 4, type_="resize")
    b = await drive.submit(client, 2, type_="mail")
    await drive.complete(db, [], a + b)
    async with db.transaction() as conn:
        # resize: waits 1..4 s, runs 10..40 s; mail: waits 0.1 and 0.2 s, runs 1 and 2 s
        for i, job in enumerate(a, start=1):
            await conn.execute(
                SET_TIMES,
                {"id": job, "t": i + 10 * i, "r": 10 * i},
            )
        for i, job in enumerate(b, start=1):
            await conn.execute(
                SET_TIMES,
                {"id": job, "t": i / 10 + i, "r": i},
            )
    section = await latency(db)
    assert section.available and section.sample == 6
    resize = next(t for t in section.by_type if t.type == "resize")
    assert (resize.finished, resize.wait_p50_ms, resize.run_p50_ms) == (4, 2500.0, 25000.0)
    assert resize.wait_p95_ms == pytest.approx(3850.0)
    assert resize.run_p95_ms == pytest.approx(38500.0)
    mail = next(t for t in section.by_type if t.type == "mail")
    assert mail.run_p50_ms == pytest.approx(1500.0)
    assert section.run_p50_ms == pytest.approx(15000.0)  # median of 1, 2, 10, 20, 30, 40


async def test_failures_grouped_by_fingerprint_largest_first(client, db):
    ids = await drive.submit(client, 7)
    await drive.fail(db, [], ids[:3], error=("ValueError", "bad row 1", "ValueError: bad row <n>"))
    await drive.fail(db, [], ids[3:5], error=("KeyError", "'user'", "KeyError: 'user'"))
    await drive.fail(db, [], ids[5:6], error=("OSError", "disk full", None))
    await drive.fail(db, [], ids[6:], retryable=True)  # retrying, not a failure group
    section = await failure_groups(db)
    assert [(g.fingerprint, g.count, g.job_ids) for g in section.groups] == [
        ("ValueError: bad row <n>", 3, (ids[2], ids[1], ids[0])),
        ("KeyError: 'user'", 2, (ids[4], ids[3])),
        ("OSError", 1, (ids[5],)),
    ]
    first = section.groups[0]
    assert (first.error_type, first.sample_message) == ("ValueError", "bad row 1")
    assert first.first_seen <= first.last_seen
    assert section.scanned == 6 and not section.truncated
    small = await failure_groups(db, scan=4)
    assert small.truncated and small.scanned == 4


async def test_workers_come_from_postgresql_with_redis_memory_history(db, cache, cache_settings):
    async with db.transaction() as conn:
        await conn.execute(
            text(
                "INSERT INTO workers (id, host, pid, queues, state, current_job_id, rss_bytes, "
                "cpu_percent, heartbeat_at, stopped_at) VALUES "
                "('w-live', 'box', 11, ARRAY['a', 'b'], 'busy', 42, 1000, 5.0, "
                " now() - interval '3 seconds', NULL), "
                "('w-gone', 'box', 12, ARRAY['a'], 'stopped', NULL, 0, 0, "
                " now() - interval '2 hours', now() - interval '2 hours')"
            )
        )
    for rss in (900, 950, 1000):
        await cache.heartbeat(
            WorkerBeat("w-live", "box", 11, ("a", "b"), "busy", 42, rss, 5.0, 3, 1, 2)
        )
    section = await workers(db, cache=cache)
    assert section.available and section.extras_available
    [w] = section.workers
    assert (w.id, w.host, w.pid, w.queues, w.state, w.current_job_id) == (
        "w-live",
        "box",
        11,
        ("a", "b"),
        "busy",
        42,
    )
    assert w.heartbeat_age_s >= 3 and w.live
    assert [m.rss_bytes for m in w.memory_history] == [900, 950, 1000]
    assert w.prefetch_in_flight == 2
    seen = (await cache.live_workers(["w-live"]))["w-live"]
    assert seen.jobs_done == 3 and seen.state == "busy"
    without_redis = await workers(db, cache=None)
    assert without_redis.workers[0].memory_history == () and not without_redis.extras_available


async def test_broker_depth_sits_next_to_the_counts(cached_client, db, cache, cache_settings):
    await drive.submit(cached_client, 3, queue="q1")
    called = []

    async def depths(settings, names):
        called.append(list(names))
        return {"q1": BrokerDepth(5, 1, 2)}

    snap = await dashboard(db, cache_settings, cache=cache, broker_depths=depths)
    [q] = snap.queues.queues
    assert (q.name, q.count(State.QUEUED), q.broker_ready, q.broker_unacked, q.consumers) == (
        "q1",
        3,
        5,
        1,
        2,
    )
    assert called == [["q1"]] and snap.queues.broker_available

    async def broken(settings, names):
        raise ConnectionError("broker said no")

    snap = await dashboard(db, cache_settings, cache=cache, broker_depths=broken)
    [q] = snap.queues.queues
    assert not snap.queues.broker_available and "broker said no" in snap.queues.broker_error
    assert q.count(State.QUEUED) == 3 and q.broker_ready is None


async def test_a_sync_broker_depth_function_runs_off_the_event_loop(client, db, migrated):
    await drive.submit(client, 1, queue="sync")

    def depths(settings, names):
        return {n: BrokerDepth(1, 0, 0) for n in names}

    snap = await dashboard(db, migrated, cache=None, broker_depths=depths)
    assert snap.queues.queues[0].broker_ready == 1


async def test_postgresql_down_marks_its_sections_and_the_rest_still_comes(
    cached_client, db, cache, cache_settings
):
    await drive.submit(cached_client, 2, queue="k")
    await CountReconciler(cache_settings, db, cache).tick()
    dead = cache_settings.evolve(
        database_url=f"postgresql://admin:hunter2@127.0.0.1:{free_port()}/nowhere"
    )
    dead_db = Database(dead)
    try:
        snap = await dashboard(dead_db, dead, cache=cache, broker_depths=_no_broker)
    finally:
        await dead_db.close()
    assert not snap.service("postgresql").up and snap.service("redis").up
    assert "hunter2" not in repr(snap)
    assert not snap.latency.available and not snap.failures.available
    assert not snap.workers.available
    assert snap.queues.available and snap.queues.source == "redis", "Redis's whole counters"
    assert {(q.name, s): n for q in snap.queues.queues for s, n in q.counts if n} == {
        ("k", State.QUEUED): 2
    }
    assert snap.events.available and snap.events.source == "redis"
    doc = snap.to_json()
    assert doc["sections"]["latency"]["available"] is False
    assert "PostgreSQL is unavailable" in doc["sections"]["latency"]["error"]


async def test_the_snapshot_is_immutable_and_its_json_keeps_the_contract(
    client, db, migrated: Settings
):
    await drive.submit(client, 2, queue="c")
    snap = await dashboard(db, migrated, cache=None, broker_depths=_no_broker)
    with pytest.raises(dataclasses.FrozenInstanceError):
        snap.queues = None  # type: ignore[misc]
    assert isinstance(snap.queues.queues, tuple) and isinstance(snap.services, tuple)
    doc = snap.to_json()
    assert set(doc) >= {"queues", "workers", "services", "throughput", "latency", "failures"}
    assert set(doc["queues"]["c"]) >= {"counts", "paused", "broker_ready", "broker_unacked"}
    assert doc["queues"]["c"]["counts"]["queued"] == 2
    assert set(doc["services"]) == {"postgresql", "rabbitmq", "redis"}
    for service in doc["services"].values():
        assert set(service) >= {"up", "latency_ms", "url"}


async def test_concurrent_snapshots_share_one_pool(client, db, migrated):
    await drive.submit(client, 5)
    snaps = await asyncio.gather(
        *(dashboard(db, migrated, cache=None, broker_depths=_no_broker) for _ in range(4))
    )
    assert {s.queues.queues[0].count(State.QUEUED) for s in snaps} == {5}


async def test_broker_depth_comes_from_rabbitmq_by_default(client, db, migrated):
    await drive.submit(client, 2, queue="never-declared")
    snap = await dashboard(db, migrated, cache=None)
    assert snap.queues.broker_available, snap.queues.broker_error
    [q] = snap.queues.queues
    assert (q.count(State.QUEUED), q.broker_ready) == (2, 0), "no broker queue holds them"
    doc = snap.to_json()["queues"]["never-declared"]
    assert doc["broker_ready"] == 0
