"""What the Overview's history charts cost PostgreSQL: one read per range, and a rollup.

Fills a scratch database with seven days of ``queue_minutes`` for ``--queues`` queues
(what the rollup keeps at most) and ``--live`` finished jobs in the last five minutes
(the live edge at thousands of jobs per second), then times ``Client.history`` for
15 minutes, 1 hour and 24 hours, and one rollup batch of five minutes of those jobs.

    python -m bench.history [--queues 20] [--live 300000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import timedelta

from sqlalchemy import text

from bench.common import median, scratch_database
from engine.client import Client
from engine.db.database import Database
from engine.maintenance.rollup import rollup_batch

SEED = [
    # Seven days of minutes per queue, as the rollup leaves them.
    """
    INSERT INTO queue_minutes (minute, queue, completed, failed, wait_p50_s, wait_p95_s, depth)
    SELECT date_trunc('minute', now()) - make_interval(mins => m), 'q' || q,
        60 + m % 50, m % 7, 0.5 + (m % 10) / 10.0, 3 + m % 5, 100 + m % 30
    FROM generate_series(6, 7 * 24 * 60) m, generate_series(1, :queues) q
    """,
    """
    INSERT INTO queue_minute_rollup (rolled_until)
    VALUES (date_trunc('minute', now()) - interval '5 minutes')
    """,
    # The last five minutes of finished jobs, not rolled up yet: the live edge.
    """
    INSERT INTO jobs (type, queue, state, queued_at, started_at, finished_at)
    SELECT 'b.h', 'q' || (1 + g % :queues), CASE WHEN g % 20 = 0 THEN 'failed' ELSE
        'completed' END, t - interval '2 seconds', t - interval '1 second', t
    FROM (SELECT g, now() - (g * 300.0 / :live) * interval '1 second' AS t
          FROM generate_series(1, :live) g) s
    """,
]


async def run(queues: int, live: int, repeat: int) -> None:
    async with scratch_database("history") as settings:
        db = Database(settings)
        try:
            async with db.transaction() as conn:
                for sql in SEED:
                    await conn.execute(text(sql), {"queues": queues, "live": live})
            async with db.connection() as conn:
                await conn.execute(text("COMMIT"))
                await conn.execute(text("VACUUM ANALYZE jobs"))
                await conn.execute(text("VACUUM ANALYZE queue_minutes"))
            async with Client(settings, database=db) as client:
                for label, window in (
                    ("15m", timedelta(minutes=15)),
                    ("1h", timedelta(hours=1)),
                    ("24h", timedelta(hours=24)),
                ):
                    times = []
                    for _ in range(repeat):
                        started = time.perf_counter()
                        await client.history(window)
                        times.append(time.perf_counter() - started)
                    print(
                        f"history {label:>3}: {median(times) * 1000:7.1f} ms (median of {repeat})"
                    )
            started = time.perf_counter()
            done = await db.run(lambda conn: rollup_batch(conn, settle_s=0.0))
            print(
                f"rollup batch: {(time.perf_counter() - started) * 1000:7.1f} ms "
                f"({done.rows} rows from {live:,} jobs over 5 minutes)"
            )
        finally:
            await db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queues", type=int, default=20)
    parser.add_argument("--live", type=int, default=300_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(run(args.queues, args.live, args.repeat))


if __name__ == "__main__":
    main()
