"""The dead-letter sweep: reading a full dead-letter queue and removing the stale copies.

Fills a scratch database with N FAILED jobs and the broker's dead-letter queue
with their N copies, ends 1 % of the failures (as retries would), then times a
sweep (read every copy, ack the stale ones, requeue the rest in place, record the
rest in PostgreSQL) and a second sweep with nothing to remove.

Peer, in the same run: what one would do without the sweep, purge the queue and
publish the copies of the current failures again (confirmed), which loses every
copy's age and order.

    python -m bench.dead_letters [--copies 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import time

from sqlalchemy import text

from bench.common import print_table, scratch_database
from engine.broker.admin import admin_connection, delete_namespace
from engine.broker.names import Names
from engine.broker.publisher import Publisher
from engine.config import Settings
from engine.db.database import Database
from engine.maintenance.dead_letters import sweep
from engine.states import State
from engine.store.changes import Transition

PUBLISH_BATCH = 5000  # copies per confirmed publish call

POPULATE = """
    INSERT INTO jobs (id, type, queue, state, created_at, queued_at, started_at, finished_at,
                      attempts, error_type, error_message, error_fingerprint, payload)
    SELECT g, 'bench.job', 'default', 'failed', now(), now(), now(),
           now() - interval '1 hour' + g * interval '1 millisecond', 1, 'ValueError',
           'boom', 'ValueError: boom', '{}'::jsonb
    FROM generate_series(1, :n) g
"""


async def _copies(settings: Settings, db: Database, where: str) -> int:
    """Publish a dead-letter copy of every FAILED job matching ``where``; how many."""
    async with db.connection() as conn:
        rows = (
            await conn.execute(
                text(f"SELECT id, queue, type, attempts, version, finished_at FROM jobs {where}")
            )
        ).all()
    publisher = Publisher(settings)
    try:
        transitions = [
            Transition.of_row(
                r, State.RUNNING, State.FAILED, None, "boom", finished_at=r.finished_at
            )
            for r in rows
        ]
        for start in range(0, len(transitions), PUBLISH_BATCH):
            await publisher.dead_letter(transitions[start : start + PUBLISH_BATCH])
    finally:
        await publisher.close()
    return len(rows)


async def run(copies: int) -> None:
    async with scratch_database("dead") as base:
        settings = base.evolve(dead_letter_max_length=max(copies, 1))
        names = Names(settings.namespace)
        db = Database(settings)
        try:
            async with db.transaction() as conn:
                await conn.execute(text(POPULATE), {"n": copies})
            await _copies(settings, db, "")
            async with db.transaction() as conn:  # 1 % of the failures end (retried)
                await conn.execute(text("UPDATE jobs SET state = 'completed' WHERE id % 100 = 0"))
            rows = []
            started = time.perf_counter()
            first = await sweep(settings, db)
            rows.append(
                ["sweep, 1 % stale", first.seen, first.removed, time.perf_counter() - started]
            )
            started = time.perf_counter()
            second = await sweep(settings, db)
            rows.append(
                ["sweep, nothing stale", second.seen, second.removed, time.perf_counter() - started]
            )

            started = time.perf_counter()
            async with admin_connection(settings) as connection:
                channel = await connection.channel()
                purged = await channel.queue_purge(names.dead_letter_queue)
                await channel.close()
            await _copies(settings, db, "WHERE state = 'failed'")
            rows.append(["peer: purge + republish", purged, 0, time.perf_counter() - started])
        finally:
            await db.close()
            await delete_namespace(settings, names, [])
    print_table(
        ["dead-letter queue", "copies read", "removed", "seconds"],
        [[r[0], f"{r[1]:,}", f"{r[2]:,}", f"{r[3]:.2f}"] for r in rows],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=100_000, help="failures and copies")
    args = parser.parse_args()
    asyncio.run(run(args.copies))


if __name__ == "__main__":
    main()
