"""Fair share and running limits on the real services, judged from recorded times.

The claim decides both in PostgreSQL (engine.store.fair_claim), so these run a real
engine with worker processes and read what the database recorded: when each job
was claimed (``started_at``), when each run began and ended (``job_events``).
"""

from __future__ import annotations

import os
import signal

from sqlalchemy import text

from engine.config import Settings
from engine.specs import JobSpec
from tests.support.runtime import isolated, running_engine, wait_for, wait_until_settled

TIMED = "tests.support.timed_jobs"


async def submit_many(client, tenant: str, n: int, job_type: str = "demo.noop", **kw) -> list[int]:
    ids: list[int] = []
    for start in range(0, n, 1000):
        specs = [
            JobSpec(job_type, queue="shared", tenant=tenant, **kw)
            for _ in range(min(1000, n - start))
        ]
        ids.extend(s.id for s in await client.submit_many(specs))
    return ids


async def start_order(db) -> list[tuple[str, float]]:
    """(tenant, start time) of every job that started, in start order."""
    async with db.connection() as conn:
        rows = await conn.execute(
            text(
                "SELECT tenant, extract(epoch FROM started_at) AS at FROM jobs "
                "WHERE started_at IS NOT NULL ORDER BY started_at, id"
            )
        )
        return [(r.tenant, float(r.at)) for r in rows]


async def test_a_small_tenant_is_not_stuck_behind_a_flood(migrated: Settings, db):
    settings = isolated(migrated)
    async with running_engine(settings, queues=("shared",), workers=2) as (_, client):
        await client.add_tenant("flood")
        await client.add_tenant("small")
        flood = await submit_many(client, "flood", 5000)
        small = await submit_many(client, "small", 50)
        await wait_until_settled(db, flood + small)
    async with db.connection() as conn:
        half_done = await conn.scalar(
            text(
                "SELECT finished_at FROM jobs WHERE tenant = 'flood' "
                "ORDER BY finished_at OFFSET 2499 LIMIT 1"
            )
        )
        late = await conn.scalar(
            text("SELECT count(*) FROM jobs WHERE tenant = 'small' AND started_at >= :t"),
            {"t": half_done},
        )
    assert late == 0, f"{late} of the small tenant's 50 jobs started after half the flood was done"


async def test_weights_share_a_queue_three_to_one(migrated: Settings, db):
    settings = isolated(migrated)
    async with running_engine(settings, queues=("shared",), workers=2) as (_, client):
        await client.add_tenant("gold", weight=3)
        await client.add_tenant("bronze", weight=1)
        # The lighter tenant submits first: order and size must not decide the share. The
        # queue is paused meanwhile, so the window below starts with both tenants waiting
        # rather than with however many of bronze's ran before gold's submit committed.
        await client.pause_queue("shared")
        bronze = await submit_many(client, "bronze", 2000)
        gold = await submit_many(client, "gold", 3000)
        await client.resume_queue("shared")
        await wait_until_settled(db, gold + bronze)
    order = await start_order(db)
    # A window in which both still had work waiting: the claims up to the 1,600th start. A
    # claim starts its whole batch (up to the prefetch) at one time, so the window takes
    # whole claims; cutting one in two would judge the share by half a batch.
    cut = order[1599][1]
    window = [tenant for tenant, at in order if at <= cut]
    ratio = window.count("gold") / window.count("bronze")
    assert 2.7 <= ratio <= 3.3, f"gold:bronze was {ratio:.2f}:1 over the first {len(window)} starts"


async def test_max_running_holds_under_four_workers_and_a_killed_worker(migrated: Settings, db):
    settings = isolated(migrated)
    settings = settings.evolve(job_modules=(*settings.job_modules, TIMED))
    async with running_engine(settings, queues=("shared",), workers=4) as (_, client):
        await client.add_tenant("capped", max_running=2)
        ids = await submit_many(
            client, "capped", 16, job_type="test.timed", payload={"seconds": 0.4}
        )
        # Kill a worker while it runs one of the tenant's jobs: its run stays RUNNING (and
        # counts against the limit) until the rescuer hands it back.
        pid = await wait_for(
            db,
            "SELECT w.pid FROM workers w JOIN jobs j ON j.id = w.current_job_id "
            "WHERE j.tenant = 'capped' AND j.state = 'running' AND w.stopped_at IS NULL "
            "AND j.started_at < now() - interval '0.3 s' LIMIT 1",
        )
        os.kill(int(pid), signal.SIGKILL)
        waiting = await wait_for(
            db,
            "SELECT wait_reason FROM jobs "
            "WHERE wait_reason LIKE 'tenant capped at its running%' LIMIT 1",
        )
        assert waiting == "tenant capped at its running limit 2/2"
        await wait_until_settled(db, ids)
    async with db.connection() as conn:
        rows = await conn.execute(
            text(
                """
                SELECT extract(epoch FROM s.at) AS start,
                       extract(epoch FROM (SELECT min(e.at) FROM job_events e
                               WHERE e.job_id = s.job_id AND e.from_state = 'running'
                                 AND e.to_state <> 'running' AND e.id > s.id)) AS finish
                FROM job_events s
                WHERE s.to_state = 'running' AND s.from_state <> 'running'
                """
            )
        )
        runs = [(float(r.start), float(r.finish)) for r in rows]
        states = set((await conn.execute(text("SELECT DISTINCT state FROM jobs"))).scalars())
    assert states == {"completed"}
    points = sorted([(s, 1) for s, _ in runs] + [(f, 0) for _, f in runs])
    now = peak = 0
    for _, starts in points:
        now += 1 if starts else -1
        peak = max(peak, now)
    assert peak == 2, f"at one instant {peak} of the tenant's jobs ran (limit 2)"
    assert len(runs) > len(ids), "the killed worker's run was handed back and ran again"


async def test_no_turn_is_lost_with_a_hundred_tenants_and_no_reconciler(migrated: Settings, db):
    # With the dispatch reconciler out of reach (an hour), a message whose job another
    # worker took as its turn must still claim something, or a job would wait forever.
    settings = isolated(migrated)
    async with running_engine(settings, queues=("shared",), workers=2, reconcile_after_s=3600) as (
        _,
        client,
    ):
        for i in range(100):
            await client.add_tenant(f"t{i:03d}")
        ids: list[int] = []
        for batch in range(4):
            specs = [
                JobSpec("demo.noop", queue="shared", tenant=f"t{(batch * 500 + i) % 100:03d}")
                for i in range(500)
            ]
            ids.extend(s.id for s in await client.submit_many(specs))
        settled = await wait_until_settled(db, ids)
    assert {s.value for s in settled.values()} == {"completed"}
