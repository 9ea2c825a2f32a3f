"""Retention: pruning old finished jobs in short batches, on a table of many jobs.

Builds a jobs table with ``generate_series`` (60 % finished 10+ days ago, 10 %
finished recently, the rest live; every tenth workflow still has a live job),
two events per job, a log line for every fifth and a dependency edge for every
pair, then measures ``prune --dry-run`` and ``prune --older-than 7d``.

Peer, in the same run, on a copy of the same database: one plain transaction
that deletes the same rows with the same rules (what PostgreSQL does when
nobody cares about lock time). While each runs, a probe submits one job at a
time and records the submission latency (p99 and max), which is what an engine
feels; "longest transaction" is how long rows stayed locked and the xmin horizon
stayed pinned at most.

    python -m bench.prune [--jobs 200000] [--batch-size 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy import text

from bench.common import print_table, scratch_database
from engine.client import Client
from engine.config import Settings
from engine.db.database import Database
from engine.db.migrate import drop_database
from engine.queries.jobs import FINISHED, LIVE

T = TypeVar("T")

POPULATE = [
    "INSERT INTO workflows (id, name) SELECT w, 'w' || w FROM generate_series(1, :n / 100) w",
    """
    INSERT INTO jobs (id, type, queue, state, workflow_id, created_at, queued_at,
                      started_at, finished_at, attempts, payload)
    SELECT g, 'bench.job', (ARRAY['alpha', 'beta', 'gamma'])[1 + g % 3],
        CASE WHEN g % 10 < 6 THEN (ARRAY['completed', 'failed', 'cancelled'])[1 + g % 3]
             WHEN g % 10 = 6 THEN 'completed'
             ELSE (ARRAY['queued', 'running', 'pending'])[g % 10 - 6] END,
        CASE WHEN g % 4 = 0 THEN 1 + (g - 1) / 100 END,
        now() - interval '12 days', now() - interval '12 days', now() - interval '12 days',
        CASE WHEN g % 10 < 6 THEN now() - interval '10 days' + g * interval '1 millisecond'
             WHEN g % 10 = 6 THEN now() - interval '1 hour' END,
        1, jsonb_build_object('i', g, 'path', 'images/' || g || '.png')
    FROM generate_series(1, :n) g
    """,
    "SELECT setval(pg_get_serial_sequence('jobs', 'id'), :n)",
    """
    INSERT INTO job_events (job_id, from_state, to_state, attempt, reason)
    SELECT id, NULL, 'queued', 0, 'submitted' FROM jobs
    UNION ALL
    SELECT id, 'running', state, 1, 'done' FROM jobs
    """,
    """
    INSERT INTO job_logs (job_id, attempt, level, message)
    SELECT id, 1, 'info', 'processed ' || id FROM jobs WHERE id % 5 = 0
    """,
    "INSERT INTO job_dependencies SELECT g + 1, g FROM generate_series(1, :n - 1, 2) g",
    "INSERT INTO queue_state_counts SELECT queue, state, count(*) FROM jobs GROUP BY 1, 2",
    "VACUUM ANALYZE",
]

# The peer: everything in one transaction, the same rules as engine.maintenance.retention. The
# victims go to a temporary table first: a CTE referenced in an IN (…) too large to hash
# in work_mem turns into a rescan per row.
PEER = [
    f"""
    CREATE TEMP TABLE victims ON COMMIT DROP AS
    SELECT j.id, j.queue, j.state FROM jobs j
    WHERE j.state IN {FINISHED} AND j.finished_at < now() - interval '7 days'
      AND (j.workflow_id IS NULL OR NOT EXISTS (
          SELECT 1 FROM jobs l WHERE l.workflow_id = j.workflow_id AND l.state IN {LIVE}))
      AND NOT EXISTS (
          SELECT 1 FROM job_dependencies d JOIN jobs k ON k.id = d.job_id
          WHERE d.depends_on_id = j.id AND k.state IN {LIVE})
    """,
    "ANALYZE victims",
    "SELECT 1 FROM jobs j JOIN victims v ON v.id = j.id FOR UPDATE OF j",
    "DELETE FROM job_dependencies d USING victims v WHERE d.job_id = v.id",
    "DELETE FROM job_dependencies d USING victims v WHERE d.depends_on_id = v.id",
    "DELETE FROM job_events e USING victims v WHERE e.job_id = v.id",
    "DELETE FROM job_logs l USING victims v WHERE l.job_id = v.id",
    "DELETE FROM jobs j USING victims v WHERE j.id = v.id",
    """
    INSERT INTO queue_state_deltas (queue, state, delta)
    SELECT queue, state, -count(*) FROM victims GROUP BY 1, 2
    """,
]


async def populate(db: Database, n: int) -> None:
    """Fill the scratch database (each statement in its own transaction; VACUUM needs that)."""
    async with db.engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        for sql in POPULATE:
            await conn.execute(text(sql), {"n": n})


async def clone(settings: Settings, name: str) -> Settings:
    """A copy of the scratch database (CREATE DATABASE … TEMPLATE), for the peer."""
    admin = Database(
        settings.evolve(database_url=settings.database_url.rsplit("/", 1)[0] + "/postgres")
    )
    try:
        async with admin.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            await conn.execute(
                text(f'CREATE DATABASE "{name}" TEMPLATE "{settings.database_name}"')
            )
    finally:
        await admin.close()
    return settings.evolve(database_url=settings.database_url.rsplit("/", 1)[0] + f"/{name}")


async def with_probe(
    client: Client, work: Callable[[], Awaitable[T]]
) -> tuple[T, float, tuple[float, float]]:
    """Run ``work`` while submitting one job at a time: (its result, seconds, submit
    latency p99 and max in ms)."""
    done = asyncio.Event()
    latencies: list[float] = []

    async def probe() -> None:
        while not done.is_set():
            t = time.perf_counter()
            await client.submit("bench.probe", queue="probe")
            latencies.append((time.perf_counter() - t) * 1000)

    task = asyncio.create_task(probe())
    started = time.perf_counter()
    try:
        result = await work()
    finally:
        elapsed = time.perf_counter() - started
        done.set()
        await task
    ordered = sorted(latencies) or [0.0]
    return result, elapsed, (ordered[int(0.99 * (len(ordered) - 1))], ordered[-1])


async def run(n: int, batch_size: int) -> list[list[object]]:
    """Measure and return the table rows."""
    async with scratch_database("prune") as settings:
        db = Database(settings)
        t = time.perf_counter()
        await populate(db, n)
        built = time.perf_counter() - t
        await db.close()
        peer_settings = await clone(settings, settings.database_name + "_peer")
        try:
            db = Database(settings)
            client = Client(settings, database=db)
            t = time.perf_counter()
            preview = await client.prune("7d", dry_run=True, batch_size=batch_size)
            dry_s = time.perf_counter() - t
            result, ours_s, ours_ms = await with_probe(
                client, lambda: client.prune("7d", batch_size=batch_size)
            )
            await db.close()

            peer_db = Database(peer_settings)
            peer_client = Client(peer_settings, database=peer_db)

            async def peer() -> int:
                async with peer_db.transaction() as conn:
                    for sql in PEER:
                        await conn.execute(text(sql))
                    return int(await conn.scalar(text("SELECT count(*) FROM jobs")))

            peer_left, peer_s, peer_ms = await with_probe(peer_client, peer)
            await peer_db.close()
        finally:
            await drop_database(peer_settings)

    removed = result.total_jobs
    print(
        f"\n{n:,} jobs built in {built:.1f} s; prune removed {removed:,} old finished jobs "
        f"({result.events:,} events, {result.logs:,} log lines, {result.dependencies:,} "
        f"edges) and kept {result.kept:,}; the dry run counted {preview.total_jobs:,}; "
        f"the peer left {peer_left:,} jobs (probe jobs included)\n"
    )
    return [
        [
            f"prune --dry-run ({batch_size:,} per batch)",
            f"{dry_s:.2f}",
            f"{preview.total_jobs / dry_s:,.0f}",
            f"{preview.longest_batch_s:.3f}",
            "-",
        ],
        [
            f"prune --older-than 7d ({batch_size:,} per transaction)",
            f"{ours_s:.2f}",
            f"{removed / ours_s:,.0f}",
            f"{result.longest_batch_s:.3f}",
            f"{ours_ms[0]:.0f} / {ours_ms[1]:.0f}",
        ],
        [
            "peer: one transaction deleting the same rows",
            f"{peer_s:.2f}",
            f"{removed / peer_s:,.0f}",
            f"{peer_s:.3f}",
            f"{peer_ms[0]:.0f} / {peer_ms[1]:.0f}",
        ],
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    args = parser.parse_args()
    rows = asyncio.run(run(args.jobs, args.batch_size))
    print_table(
        ["what", "seconds", "jobs/s", "longest transaction (s)", "submit p99 / max meanwhile (ms)"],
        rows,
    )


if __name__ == "__main__":
    main()
