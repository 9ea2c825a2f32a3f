"""A submit that returned is never lost: kill -9 the producer right after, broker up or down.

``submit`` returns once the job's commit is durable; its publish follows in the
background, so a producer killed at any moment may leave committed jobs that
never reached the broker. The dispatch reconciler publishes those (a runnable
row nobody claimed for ``reconcile_after_s``), so an engine started afterwards
runs every job whose id the producer printed.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from sqlalchemy import text

from engine.config import Settings, to_environ
from engine.db.database import Database
from engine.states import State
from tests.support.runtime import isolated, running_engine, wait_until_settled
from tests.support.services import free_port

SUBMITS = 5000  # the producer's bound; it is killed long before
KILL_AFTER = 300  # ids read from the producer before kill -9
READ_TIMEOUT_S = 60.0  # a hang bound for the producer's output, not a performance figure

PRODUCER = """
import asyncio, sys
from engine.config import load_settings
from engine.runtime.wiring import open_client

async def main() -> None:
    async with open_client(load_settings()) as client:
        for i in range(int(sys.argv[1])):
            job = await client.submit("demo.noop", {"i": i})
            sys.stdout.write(f"{job.id}\\n")
            sys.stdout.flush()

asyncio.run(main())
"""


async def printed_ids_then_kill(settings: Settings) -> list[int]:
    """Run a producer that submits one job at a time and prints each id as ``submit``
    returns; kill -9 it once :data:`KILL_AFTER` ids were read. Every id read."""
    env = {**os.environ, **to_environ(settings)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        PRODUCER,
        str(SUBMITS),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    ids: list[int] = []
    try:
        async with asyncio.timeout(READ_TIMEOUT_S):
            while len(ids) < KILL_AFTER:
                line = await proc.stdout.readline()
                assert line, "the producer stopped before it was killed"
                ids.append(int(line))
    finally:
        proc.send_signal(signal.SIGKILL)
        # What it printed before dying was returned by submit too: read it all.
        rest, _ = await proc.communicate()
    ids.extend(int(line) for line in rest.split())
    assert proc.returncode == -signal.SIGKILL
    return ids


async def assert_committed_with_event(db: Database, ids: list[int]) -> None:
    async with db.connection() as conn:
        rows = await conn.execute(
            text(
                "SELECT j.id, j.state, count(e.id) AS submitted FROM jobs j "
                "LEFT JOIN job_events e ON e.job_id = j.id AND e.from_state IS NULL "
                "WHERE j.id = ANY(:ids) GROUP BY j.id, j.state"
            ),
            {"ids": ids},
        )
        found = {r.id: (r.state, r.submitted) for r in rows}
    assert sorted(found) == sorted(ids), "a printed id is not in PostgreSQL"
    assert {s for s, _ in found.values()} == {"queued"}
    assert {n for _, n in found.values()} == {1}, "a job lacks its one 'submitted' event"


async def test_kill_9_right_after_submit_returns_loses_no_job(
    migrated: Settings, db: Database
) -> None:
    settings = isolated(migrated)
    ids = await printed_ids_then_kill(settings)
    assert len(ids) >= KILL_AFTER
    await assert_committed_with_event(db, ids)
    # Messages the producer never got to publish are republished by the reconciler.
    async with running_engine(settings, reconcile_after_s=1.0):
        final = await wait_until_settled(db, ids)
    assert set(final.values()) == {State.COMPLETED}


async def test_kill_9_with_the_broker_unreachable_loses_no_job(
    migrated: Settings, db: Database
) -> None:
    settings = isolated(migrated)
    unreachable = settings.evolve(amqp_url=f"amqp://guest:guest@127.0.0.1:{free_port()}/%2F")
    ids = await printed_ids_then_kill(unreachable)
    assert len(ids) >= KILL_AFTER
    await assert_committed_with_event(db, ids)
    # Nothing of it reached a broker: the engine's reconciler publishes every one.
    async with running_engine(settings, reconcile_after_s=1.0):
        final = await wait_until_settled(db, ids)
    assert set(final.values()) == {State.COMPLETED}
