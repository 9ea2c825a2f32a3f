"""Pause and resume with the real engine: broker, supervisor, several worker processes."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from engine.config import Settings
from engine.db.database import Database
from engine.states import State

runtime = pytest.importorskip("tests.support.runtime", reason="the engine runtime harness")
depth = pytest.importorskip("engine.broker.depth", reason="the engine runtime's broker probe")

JOBS = 30
POLL_S = 0.05  # seconds between looks at the broker


async def test_pause_stops_new_starts_on_every_worker_and_resume_restarts_them(
    migrated: Settings, db: Database
) -> None:
    settings = runtime.isolated(migrated)
    async with runtime.running_engine(settings, workers=3) as (_, client):
        await client.pause_queue("default")
        ids = [(await client.submit("demo.noop", {"i": i})).id for i in range(JOBS)]
        # Every message reaches a worker (none left ready in the broker) and is refused.
        probe = depth.DepthProbe(settings)
        try:
            for _ in range(int(runtime.LIVENESS_S / POLL_S)):  # a hang bound, not a figure
                if (await probe.depths(["default"]))["default"].ready == 0:
                    break
                await asyncio.sleep(POLL_S)
            else:
                raise AssertionError("the workers never took the paused queue's messages")
        finally:
            await probe.close()
        queued = await runtime.states(db, ids)
        assert set(queued.values()) == {State.QUEUED}
        async with db.connection() as conn:
            resumed_at = await conn.scalar(text("SELECT clock_timestamp()"))
        change = await client.resume_queue("default")
        assert change.changed and change.republished == JOBS
        final = await runtime.wait_until_settled(db, ids)

    assert set(final.values()) == {State.COMPLETED}
    async with db.connection() as conn:
        early = await conn.scalar(
            text(
                "SELECT count(*) FROM job_events WHERE to_state = 'running' AND at < :t "
                "AND job_id = ANY(:ids)"
            ),
            {"t": resumed_at, "ids": ids},
        )
        attempts = await conn.scalar(
            text("SELECT max(attempts) FROM jobs WHERE id = ANY(:ids)"), {"ids": ids}
        )
    assert early == 0  # nothing started while the queue was paused
    assert attempts == 1  # and each job ran once after the resume
