"""The rescuer after a database outage: heartbeats nobody could write prove nothing.

Found by the chaos run: PostgreSQL down for eight seconds (longer than the
heartbeat timeout) made the rescuer, on its first tick after the restart,
presume every worker lost and fail every running job as ``WorkerLost`` — 53
jobs with ``max_retries=0`` FAILED and 94 dependents BLOCKED, with all four
workers alive and well.
"""

from __future__ import annotations

from sqlalchemy import text

from engine.client import Client
from engine.db.database import Database
from engine.maintenance.rescuer import Rescuer
from engine.snapshots import WorkerBeat
from engine.states import State
from engine.store import workers as store
from engine.store.transitions import claim

WORKER = "outage-test-worker"


async def _running_job_of_a_silent_worker(client: Client, db: Database) -> int:
    job = await client.submit("demo.noop", max_retries=0)
    info = WorkerBeat(WORKER, "host", 1, ("default",))
    await db.run(lambda conn: store.register_worker(conn, info))
    claimed, _, _ = await db.run(lambda conn: claim(conn, [(job.id, 0)], WORKER))
    assert [c.id for c in claimed] == [job.id]
    async with db.transaction() as conn:  # its last heartbeat is as old as an outage
        await conn.execute(
            text("UPDATE workers SET heartbeat_at = now() - interval '1 minute' WHERE id = :id"),
            {"id": WORKER},
        )
    return job.id


async def _state(db: Database, job_id: int) -> State:
    async with db.connection() as conn:
        value = await conn.scalar(text("SELECT state FROM jobs WHERE id = :id"), {"id": job_id})
    return State(value)


async def test_after_a_failed_tick_silence_is_not_judged_until_workers_could_beat_again(
    client: Client, db: Database
) -> None:
    job_id = await _running_job_of_a_silent_worker(client, db)
    rescuer = Rescuer(db, [], heartbeat_timeout_s=5.0)
    rescuer.last_error = "PostgreSQL is unavailable"  # as PeriodicService records a failed tick
    await rescuer.tick()
    assert await _state(db, job_id) is State.RUNNING
    assert rescuer.rescued == 0

    rescuer.last_error = None
    await rescuer.tick()  # still within the heartbeat timeout after the outage
    assert await _state(db, job_id) is State.RUNNING

    rescuer._judge_after = 0.0  # a whole heartbeat timeout later, and still silent
    await rescuer.tick()
    assert await _state(db, job_id) is State.FAILED
    assert rescuer.rescued == 1


async def test_without_an_outage_a_silent_worker_is_presumed_lost_at_once(
    client: Client, db: Database
) -> None:
    job_id = await _running_job_of_a_silent_worker(client, db)
    rescuer = Rescuer(db, [], heartbeat_timeout_s=5.0)
    await rescuer.tick()
    assert await _state(db, job_id) is State.FAILED
