"""Tenants on submit and as operators manage them, against the real PostgreSQL."""

import asyncio

import pytest
from sqlalchemy import text

from engine.errors import UserError, ValidationError
from engine.specs import JobSpec
from engine.states import State
from engine.store.transitions import claim
from engine.tenants.limits import TenantFull, UnknownTenant


async def jobs_written(db) -> int:
    async with db.connection() as conn:
        return int(await conn.scalar(text("SELECT count(*) FROM jobs")))


async def test_a_job_without_a_tenant_belongs_to_default(client):
    s = await client.submit("demo.noop")
    job = await client.job(s.id)
    assert job.tenant == "default"
    assert job.to_json()["tenant"] == "default"


async def test_rows_from_before_tenants_migrate_to_default(db):
    # The column's default is what the migration gave the rows that existed then.
    async with db.transaction() as conn:
        await conn.execute(
            text("INSERT INTO jobs (type, queue, state) VALUES ('old', 'q', 'completed')")
        )
        tenant = await conn.scalar(text("SELECT tenant FROM jobs"))
    assert tenant == "default"


async def test_submit_for_a_tenant_on_every_path(client):
    await client.add_tenant("acme")
    plain = await client.submit("demo.noop", tenant="acme")
    many = await client.submit_many([JobSpec("demo.noop", tenant="acme", idempotency_key="k")])
    wf = await client.submit_workflow(
        [
            JobSpec("demo.noop", ref="a", tenant="acme"),
            JobSpec("demo.noop", ref="b", depends_on=["a"], tenant="acme"),
        ]
    )
    for job_id in (plain.id, many[0].id, wf.ids["a"], wf.ids["b"]):
        assert (await client.job(job_id)).tenant == "acme"


async def test_an_unknown_tenant_is_refused_and_nothing_is_written(client, db):
    with pytest.raises(UnknownTenant, match="tenant 'nobody' does not exist"):
        await client.submit("demo.noop", tenant="nobody")
    with pytest.raises(UnknownTenant):
        await client.submit_many([JobSpec("demo.noop"), JobSpec("demo.noop", tenant="nobody")])
    assert await jobs_written(db) == 0


async def test_a_bad_tenant_name_is_refused_by_name(client):
    with pytest.raises(ValidationError, match="tenant 'no spaces' is not a tenant name"):
        await client.submit("demo.noop", tenant="no spaces")


async def test_a_workflow_belongs_to_one_tenant(client, db):
    await client.add_tenant("acme")
    with pytest.raises(ValidationError, match="every job of a workflow belongs to one tenant"):
        await client.submit_workflow(
            [JobSpec("demo.noop", ref="a", tenant="acme"), JobSpec("demo.noop", ref="b")]
        )
    other = await client.submit("demo.noop")
    with pytest.raises(ValidationError, match=f"job {other.id} belongs to tenant 'default'"):
        await client.submit_many([JobSpec("demo.noop", tenant="acme", depends_on=[other.id])])
    assert await jobs_written(db) == 1


async def test_max_waiting_refuses_past_the_limit_naming_tenant_and_figure(client, db):
    await client.add_tenant("small", max_waiting=3)
    for _ in range(3):
        await client.submit("demo.noop", tenant="small")
    with pytest.raises(
        TenantFull, match=r"tenant 'small' is at its waiting limit: 3 jobs waiting, limit 3"
    ):
        await client.submit("demo.noop", tenant="small")
    with pytest.raises(TenantFull):
        await client.submit_workflow([JobSpec("demo.noop", ref=r, tenant="small") for r in "ab"])
    assert await jobs_written(db) == 3
    # Other tenants are not held back by it.
    await client.submit("demo.noop")


async def test_concurrent_submits_cannot_squeeze_past_max_waiting(client, db):
    await client.add_tenant("small", max_waiting=5)
    results = await asyncio.gather(
        *(client.submit("demo.noop", tenant="small") for _ in range(20)), return_exceptions=True
    )
    assert sum(1 for r in results if isinstance(r, TenantFull)) == 15
    assert await jobs_written(db) == 5


async def test_tenant_add_list_set_remove(client):
    await client.add_tenant("acme", max_waiting="100", max_running=4, weight="3")
    with pytest.raises(UserError, match="tenant 'acme' already exists"):
        await client.add_tenant("acme")
    listed = {t.name: t for t in await client.tenants()}
    assert sorted(listed) == ["acme", "default"]
    assert (listed["acme"].max_waiting, listed["acme"].max_running, listed["acme"].weight) == (
        100,
        4,
        3.0,
    )
    changed = await client.set_tenant("acme", max_running="none")
    assert (changed.max_waiting, changed.max_running, changed.weight) == (100, None, 3.0)
    job = await client.submit("demo.noop", tenant="acme")
    with pytest.raises(UserError, match="tenant 'acme' has 1 live job"):
        await client.remove_tenant("acme")
    await client.cancel(job.id)
    await client.remove_tenant("acme")
    assert [t.name for t in await client.tenants()] == ["default"]
    with pytest.raises(UserError, match="tenant 'acme' does not exist"):
        await client.set_tenant("acme", weight=2)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"weight": "0"}, "weight '0' must be a positive number"),
        ({"weight": "lots"}, "weight 'lots' is not a number"),
        ({"max_running": "0"}, "max-running 0 must be at least 1"),
        ({"max_waiting": "x"}, "max-waiting 'x' is not a number"),
    ],
)
async def test_bad_tenant_settings_are_refused(client, kwargs, message):
    with pytest.raises(UserError, match=message):
        await client.add_tenant("acme", **kwargs)
    assert [t.name for t in await client.tenants()] == ["default"]


async def test_max_running_is_enforced_in_the_claim_with_a_visible_reason(client, db):
    await client.add_tenant("capped", max_running=2)
    ids = [(await client.submit("demo.noop", tenant="capped")).id for _ in range(4)]
    claimed, _, _ = await db.run(lambda conn: claim(conn, [(i, 0) for i in ids], "w1"))
    assert [c.id for c in claimed] == ids[:2]
    held = await client.job(ids[2])
    assert held.state is State.QUEUED
    assert held.wait_reason == "tenant capped at its running limit 2/2"
    # A second claim, from another worker, counts the first one's runs.
    again, _, _ = await db.run(lambda conn: claim(conn, [(ids[3], 0)], "w2"))
    assert again == []


async def test_status_and_metrics_show_tenants_with_bounded_labels(client, db, migrated):
    from engine.metrics.exporter import MetricsExporter
    from engine.readapi.dashboard import TENANTS_SHOWN, tenant_loads

    await client.add_tenant("capped", max_running=4)
    for _ in range(3):
        await client.submit("demo.noop", tenant="capped")
    for i in range(TENANTS_SHOWN + 5):
        await client.add_tenant(f"t{i:02d}")
        await client.submit("demo.noop", tenant=f"t{i:02d}")
    section = await tenant_loads(db)
    names = [t.name for t in section.tenants]
    assert names[0] == "capped" and len(names) == TENANTS_SHOWN + 1 and names[-1] == "(other)"
    capped = section.tenants[0]
    assert (capped.waiting, capped.running, capped.max_running) == (3, 0, 4)
    exporter = MetricsExporter(migrated, db=db)
    try:
        text = (await exporter.metrics_text()).decode()
    finally:
        await exporter.stop()
    assert 'queueconsole_tenant_jobs{state="waiting",tenant="capped"} 3.0' in text
    assert 'queueconsole_tenant_running_limit{tenant="capped"} 4.0' in text
    labels = {
        line.split('tenant="')[1].split('"')[0]
        for line in text.splitlines()
        if line.startswith("queueconsole_tenant_jobs{")
    }
    assert len(labels) == TENANTS_SHOWN + 1


async def test_the_ledger_forgets_a_tenant_with_nothing_left_on_a_queue(client, db):
    from engine.maintenance.tenant_ledger import TenantLedger

    await client.add_tenant("acme")
    theirs = await client.submit("demo.noop", queue="q", tenant="acme")
    ours = await client.submit("demo.noop", queue="q")

    async def pairs() -> list[tuple[str, str]]:
        async with db.connection() as conn:
            rows = await conn.execute(text("SELECT queue, tenant FROM tenant_queues ORDER BY 2"))
            return [(r.queue, r.tenant) for r in rows]

    assert await pairs() == [("q", "acme"), ("q", "default")]
    await TenantLedger(db).tick()
    assert await pairs() == [("q", "acme"), ("q", "default")]  # both still have a job there
    await client.cancel(theirs.id)
    await TenantLedger(db).tick()
    assert await pairs() == [("q", "default")]
    # With the queue single-tenant again, its jobs take the plain claim.
    claimed, _, _ = await db.run(lambda conn: claim(conn, [(ours.id, 0)], "w1"))
    assert [c.id for c in claimed] == [ours.id]


async def test_a_batch_of_turns_comes_back_in_turn_order_at_one_claim_time(client, db):
    # The worker starts a claim's jobs in the order it returns them: in id order, the
    # lighter tenant's (older, lower) ids would all run before the heavier one's.
    await client.add_tenant("gold", weight=3)
    await client.add_tenant("bronze", weight=1)
    bronze = await client.submit_many(
        [JobSpec("demo.noop", queue="q", tenant="bronze") for _ in range(8)]
    )
    gold = await client.submit_many(
        [JobSpec("demo.noop", queue="q", tenant="gold") for _ in range(8)]
    )
    # Eight turns, all named by bronze's messages, as a worker's prefetch delivers them.
    claimed, _, _ = await db.run(lambda conn: claim(conn, [(s.id, 0) for s in bronze], "w1"))
    owners = {s.id: "b" for s in bronze} | {s.id: "g" for s in gold}
    order = "".join(owners[c.id] for c in claimed)
    # Each prefix keeps to 3:1 within the ledger's slack (stride scheduling lets a tenant
    # whose own message it is go up to two runs of weight 1 ahead); id order, "bbb…", not.
    for n in range(1, len(order) + 1):
        assert abs(order[:n].count("b") - order[:n].count("g") / 3) <= 2, order
    assert len(order) == 8 and order.count("g") >= 5, order
    assert len({c.started_at for c in claimed}) == 1


async def test_a_job_the_ledger_upkeep_made_single_tenant_meanwhile_is_still_claimed(client, db):
    # The plain claim leaves a shared queue's job to the fair-share path; if the ledger
    # upkeep drops the queue's other tenant in between, that path must claim it by its id
    # (not refuse it and leave it for the reconciler's republish minutes later).
    from engine.store.fair_claim import claim_for_tenants

    job = await client.submit("demo.noop", queue="q")
    done = await db.run(lambda conn: claim_for_tenants(conn, [(job.id, 0)], "w1"))
    assert [r["id"] for r in done.rows] == [job.id] and done.handled == {job.id}
    assert (await client.job(job.id)).state is State.RUNNING


async def test_remove_waits_for_a_submit_in_flight_and_then_refuses(client, db):
    # Without the submit's lock on the tenant row, the remove counted no live job while
    # the submit was still uncommitted, and the job ended up under a removed tenant.
    from engine.specs import prepare
    from engine.store.submission import insert_jobs

    await client.add_tenant("acme")
    async with db.transaction() as conn:
        await insert_jobs(conn, prepare([JobSpec("demo.noop", tenant="acme")], workflow=False))
        removing = asyncio.create_task(client.remove_tenant("acme"))
        await asyncio.sleep(0.3)
        assert not removing.done(), "the remove did not wait for the submit in flight"
    with pytest.raises(UserError, match="tenant 'acme' has 1 live job"):
        await removing
    assert [t.name for t in await client.tenants()] == ["acme", "default"]


async def test_a_submit_after_a_remove_in_flight_finds_the_tenant_gone(client, db):
    from engine.tenants.settings import remove_tenant

    await client.add_tenant("acme")
    async with db.transaction() as conn:
        await remove_tenant(conn, "acme")
        submitting = asyncio.create_task(client.submit("demo.noop", tenant="acme"))
        await asyncio.sleep(0.3)
        assert not submitting.done(), "the submit did not wait for the remove in flight"
    with pytest.raises(UnknownTenant, match="tenant 'acme' does not exist"):
        await submitting
    assert await jobs_written(db) == 0


@pytest.mark.parametrize("sort", [None, "type"])
async def test_the_jobs_list_filters_by_the_default_tenant_and_by_a_named_one(client, sort):
    # Two statement shapes: a named tenant's filter goes through the partial index that
    # leaves the default tenant's jobs out; the default tenant's through the primary key.
    from engine.snapshots.jobs import JobFilter, JobSort

    await client.add_tenant("acme")
    ours = [(await client.submit("demo.noop")).id for _ in range(3)]
    theirs = [(await client.submit("demo.noop", tenant="acme")).id for _ in range(2)]
    order = JobSort(sort) if sort else None
    default_page = await client.jobs(JobFilter(tenant="default"), sort=order)
    acme_page = await client.jobs(JobFilter(tenant="acme"), sort=order)
    assert sorted(j.id for j in default_page.items) == ours
    assert sorted(j.id for j in acme_page.items) == theirs
