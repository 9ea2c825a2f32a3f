"""A real workflow through the real broker and worker processes."""

from __future__ import annotations

from sqlalchemy import text

from engine.config import Settings
from engine.db.database import Database
from engine.specs import JobSpec
from engine.states import State
from tests.support.runtime import (
    completed_twice,
    isolated,
    order_violations,
    running_engine,
    wait_until_settled,
)

LEVELS = 4
WIDTH = 25


def layered_workflow() -> list[JobSpec]:
    """100 jobs in 4 levels; each job depends on two of the level before; every
    seventh job fails its first attempt."""
    specs = []
    for level in range(LEVELS):
        for i in range(WIDTH):
            n = level * WIDTH + i
            deps = (
                ()
                if level == 0
                else tuple(sorted({f"{level - 1}.{i}", f"{level - 1}.{(i + 3) % WIDTH}"}))
            )
            if n % 7 == 0:
                spec = JobSpec("demo.flaky", {"fail_times": 1}, backoff_s=0.05, backoff_max_s=0.2)
            else:
                spec = JobSpec("demo.noop")
            specs.append(
                JobSpec(
                    spec.type,
                    spec.payload,
                    depends_on=deps,
                    ref=f"{level}.{i}",
                    backoff_s=spec.backoff_s,
                    backoff_max_s=spec.backoff_max_s,
                    priority=("low", "normal", "high", "critical")[n % 4],
                )
            )
    return specs


async def test_a_100_job_workflow_completes_in_dependency_order(
    migrated: Settings, db: Database
) -> None:
    settings = isolated(migrated)
    async with running_engine(settings) as (_, client):
        submitted = await client.submit_workflow(layered_workflow(), name="e2e")
        final = await wait_until_settled(db, submitted.ids.values())

    assert len(final) == LEVELS * WIDTH
    assert set(final.values()) == {State.COMPLETED}
    assert await order_violations(db) == []
    assert await completed_twice(db) == []
    async with db.connection() as conn:
        retried = await conn.scalar(
            text(
                "SELECT count(DISTINCT job_id) FROM job_events WHERE to_state = 'retrying' "
                "AND reason LIKE 'DemoFailure: flaky failure%'"
            )
        )
        attempts = await conn.scalar(text("SELECT sum(attempts) FROM jobs"))
    flaky = sum(1 for n in range(LEVELS * WIDTH) if n % 7 == 0)
    assert retried == flaky
    assert attempts == LEVELS * WIDTH + flaky


async def test_a_job_result_logs_and_resource_figures_are_recorded(
    migrated: Settings, db: Database
) -> None:
    settings = isolated(migrated)
    async with running_engine(settings, workers=1) as (_, client):
        sleep = await client.submit("demo.sleep", {"seconds": 0.1})
        mem = await client.submit("demo.memory", {"mb": 40, "seconds": 0.2})
        await wait_until_settled(db, [sleep.id, mem.id])
        detail = await client.job(mem.id)
        slept = await client.job(sleep.id)
    assert detail.state is State.COMPLETED
    assert detail.peak_rss_bytes is not None and detail.peak_rss_bytes > 40 * 2**20
    assert detail.cpu_time_s is not None
    assert any("holding 40 MiB" in line.message for line in detail.logs)
    assert all(line.attempt == 1 for line in detail.logs)
    assert slept.result == {"slept_s": 0.1}
