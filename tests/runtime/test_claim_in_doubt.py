"""A claim whose commit the worker never heard about is adopted, run by run."""

from __future__ import annotations

from engine.client import Client
from engine.config import Settings
from engine.db.database import Database
from engine.store.transitions import Failure, claim, fail, requeue_due
from engine.worker.execution import Outcome
from engine.worker.process import Worker, WorkerOptions, _Finished, _Run
from engine.worker.registry import JobContext


async def test_an_earlier_attempt_waiting_to_be_recorded_does_not_hide_the_new_claim(
    migrated: Settings, db: Database, client: Client
) -> None:
    # Attempt 1 failed; its outcome still waits in the worker to be recorded (its
    # flush was cut after committing). The retry's claim of attempt 2 committed too,
    # but the worker only heard "connection closed". Adopting by job id alone saw the
    # job as held and left attempt 2 RUNNING on a live worker that never ran it.
    job = (await client.submit("demo.noop", backoff_s=0)).id
    first, _, _ = await db.run_single(lambda conn: claim(conn, [(job, 0)], "w1"))
    await db.run(lambda conn: fail(conn, [Failure(job, 1, "DemoFailure", "flaky")], "w1"))
    await db.run(lambda conn: requeue_due(conn))
    second, _, _ = await db.run_single(lambda conn: claim(conn, [(job, 1)], "w1"))
    assert [c.attempt for c in first + second] == [1, 2]

    worker = Worker(migrated, WorkerOptions(worker_id="w1"))
    try:
        a1 = first[0]
        ctx = JobContext(
            job_id=job, attempt=1, type=a1.type, queue=a1.queue, payload={}, timeout_s=None
        )
        worker._finished.append(_Finished(_Run(a1, ctx), Outcome("error")))

        adopted = await worker._claimed_in_doubt([(job, 1)])
        assert [(c.id, c.attempt) for c in adopted] == [(job, 2)]

        worker._runs[job] = _Run(adopted[0], ctx)
        assert await worker._claimed_in_doubt([(job, 1)]) == [], "a run it holds is not doubled"
    finally:
        await worker._db.close()
