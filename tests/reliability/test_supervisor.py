"""The supervisor: memory limits recycle workers, budgets bound scaling, scale reaches
every engine over the control exchange."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest
from sqlalchemy import text

from engine.config import Settings
from engine.db.database import Database
from engine.runtime.supervisor import ScaleRefused
from engine.states import State
from tests.support.runtime import isolated, running_engine, wait_for, wait_until_settled


async def test_a_worker_over_its_memory_limit_is_replaced_after_its_job(
    migrated: Settings, db: Database
) -> None:
    settings = isolated(migrated)
    async with running_engine(settings, workers=1, worker_max_memory_mb=120) as (engine, client):
        # The handler leaks 150 MiB: after the job the process is over its limit.
        hog = await client.submit("demo.memory", {"mb": 150, "seconds": 0.2, "leak": True})
        await wait_until_settled(db, [hog.id])
        await wait_for(db, "SELECT count(*) >= 2 FROM workers")
        after = await client.submit("demo.noop")
        final = await wait_until_settled(db, [after.id])
        async with db.connection() as conn:
            rows = (
                await conn.execute(text("SELECT id, stopped_at FROM workers ORDER BY started_at"))
            ).all()
        slot = engine.supervisor.snapshot().workers[0]
    assert final[after.id] is State.COMPLETED
    assert rows[0].stopped_at is not None  # the first process left ...
    assert slot.restarts >= 1  # ... and the slot started a fresh one
    assert (await _job(db, hog.id)) == "completed"


async def test_a_job_asking_more_memory_than_a_worker_may_use_waits_with_the_reason(
    migrated: Settings, db: Database
) -> None:
    settings = isolated(migrated)
    async with running_engine(settings, workers=1, memory_budget_mb=300) as (engine, client):
        assert engine.supervisor.snapshot().memory_per_worker_mb == 256
        big = await client.submit("demo.noop", memory_mb=2048)
        reason = await wait_for(
            db,
            "SELECT wait_reason FROM jobs WHERE id = :id AND state = 'retrying'",
            {"id": big.id},
        )
    assert "needs 2048 MiB" in reason and "offers" in reason and "and 256 MiB" in reason


async def test_scaling_beyond_the_memory_budget_is_refused_with_the_figures(
    migrated: Settings,
) -> None:
    settings = isolated(migrated)
    async with running_engine(settings, workers=1, memory_budget_mb=600) as (engine, _):
        with pytest.raises(ScaleRefused, match="exceeds the memory budget of 600 MiB"):
            await engine.supervisor.scale("default", 3)
        assert engine.supervisor.snapshot().targets == {"default": 1}


async def test_the_scale_command_reaches_a_running_engine(
    migrated: Settings, cli_env: dict[str, str]
) -> None:
    settings = isolated(migrated)
    env = {**cli_env, "QUEUECONSOLE_NAMESPACE": settings.namespace}
    async with running_engine(settings, workers=1) as (engine, _):
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "queueconsole",
            "scale",
            "3",
            "--queue",
            "default",
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        out, err = await proc.communicate()
        assert proc.returncode == 0, err.decode()
        assert "accepted (queue 'default' at 3 workers)" in out.decode()
        for _ in range(300):
            if len(engine.supervisor.pids()) == 3:
                break
            await asyncio.sleep(0.1)
        assert engine.supervisor.snapshot().targets == {"default": 3}
        assert len(engine.supervisor.pids()) == 3


async def _job(db: Database, job_id: int) -> str:
    async with db.connection() as conn:
        return str(await conn.scalar(text("SELECT state FROM jobs WHERE id = :id"), {"id": job_id}))


async def test_an_engine_that_cannot_start_its_workers_stops_what_it_started(
    migrated: Settings,
) -> None:
    from engine.runtime.engine import Engine, EngineOptions

    settings = isolated(migrated)
    engine = Engine(settings, EngineOptions(workers={"default": 3}, memory_budget_mb=300))
    with pytest.raises(ScaleRefused, match="exceeds the memory budget of 300 MiB"):
        await engine.start()
    assert engine.supervisor.pids() == []
    assert not any(t.get_name().startswith("service:") for t in asyncio.all_tasks())
    await engine.stop()
