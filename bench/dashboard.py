"""What one dashboard snapshot and one job page cost with 1,000,000 jobs in the table.

Loads the jobs (``bench.load_million``) into a scratch database, then prints,
as medians over ``--repeat`` runs after one warm-up:

* the database time of a full snapshot read from PostgreSQL alone (Redis down
  or flushed: the most queries), and with a warm Redis cache;
* the same information computed the naive way, in the same run: ``GROUP BY``
  over the whole jobs table for counts, percentiles and throughput over every
  recent row without a bound, failures grouped over every failed job, newest
  events by timestamp;
* the first and the deepest page of the jobs list, keyset (ours) against
  ``OFFSET`` paging (the naive peer), unfiltered and filtered.

    python -m bench.dashboard [--jobs 1000000] [--repeat 5] [--database-url URL]

``--database-url`` reuses a database loaded with ``bench.load_million --keep``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import event, text

from bench.common import bench_settings, print_table
from bench.load_million import load_jobs, vacuum_analyze
from engine.config import Settings, load_settings
from engine.db.database import Database
from engine.db.migrate import drop_database, migrate
from engine.maintenance.count_reconciler import CountReconciler
from engine.readapi.dashboard import dashboard
from engine.readapi.jobs import job_page
from engine.snapshots import JobFilter
from engine.states import State
from engine.status.cache import StatusCache
from engine.store.changes import ChangeSet, Transition

PAGE = 50

# The naive peer: the same facts without count tables, bounds or keyset pagination.
NAIVE_SNAPSHOT = (
    "SELECT queue, state, count(*) FROM jobs GROUP BY queue, state",
    "SELECT type, percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP "
    "(ORDER BY extract(epoch FROM started_at - queued_at)), "
    "percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP "
    "(ORDER BY extract(epoch FROM finished_at - started_at)) "
    "FROM jobs WHERE finished_at >= now() - interval '10 minutes' GROUP BY type",
    "SELECT date_trunc('second', finished_at), count(*) FILTER (WHERE state = 'completed'), "
    "count(*) FILTER (WHERE state = 'failed') FROM jobs "
    "WHERE finished_at >= now() - interval '1 hour' GROUP BY 1",
    "SELECT error_fingerprint, count(*), min(finished_at), max(finished_at), "
    "(array_agg(id ORDER BY id DESC))[1:5] FROM jobs WHERE state = 'failed' "
    "GROUP BY 1 ORDER BY 2 DESC LIMIT 20",
    "SELECT * FROM job_events ORDER BY at DESC LIMIT 50",
    "SELECT * FROM workers",
    "SELECT * FROM queues",
)

OFFSET_PAGE = (
    "SELECT id, type, queue, priority, state, attempts, created_at, started_at, finished_at, "
    "worker_id, workflow_id, error_message, wait_reason FROM jobs j {where} "
    "ORDER BY id DESC LIMIT :limit OFFSET :offset"
)


async def timed(fn: Callable[[], Awaitable[Any]]) -> float:
    started = time.perf_counter()
    await fn()
    return (time.perf_counter() - started) * 1000.0


async def median_of(repeat: int, fn: Callable[[], Awaitable[float]]) -> float:
    await fn()  # warm-up: caches, plans
    return statistics.median([await fn() for _ in range(repeat)])


async def snapshot_db_ms(
    db: Database, settings: Settings, cache: StatusCache | None
) -> tuple[float, dict[str, float]]:
    snap = await dashboard(
        db, settings, cache=cache, broker_depths=_no_broker, concurrent=False, probe_services=False
    )
    assert snap.queues.available and snap.latency.available and snap.failures.available
    return snap.db_ms, dict(snap.timings_ms)


async def _no_broker(settings: Settings, names: list[str]) -> dict[str, Any]:
    return {}


async def server_ms(db: Database, settings: Settings, cache: StatusCache | None) -> float:
    """PostgreSQL's own planning + execution time of every statement a snapshot runs
    (EXPLAIN ANALYZE of the captured statements): the figure least disturbed by a busy
    client machine."""
    captured: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *rest: Any) -> None:
        captured.append((statement, parameters))

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        await snapshot_db_ms(db, settings, cache)
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)
    total = 0.0
    async with db.connection() as conn:
        for statement, parameters in captured:
            raw = await conn.exec_driver_sql(
                f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}", parameters
            )
            doc = raw.scalar_one()
            plan = (json.loads(doc) if isinstance(doc, str) else doc)[0]
            total += plan["Planning Time"] + plan["Execution Time"]
    return total


async def naive_snapshot_ms(db: Database) -> float:
    """Client-side time of the naive peer's statements."""
    total = 0.0
    async with db.connection() as conn:
        for statement in NAIVE_SNAPSHOT:
            started = time.perf_counter()
            (await conn.execute(text(statement))).all()
            total += (time.perf_counter() - started) * 1000.0
    return total


async def warm_cache(db: Database, settings: Settings) -> StatusCache:
    """A cache as a running system has it: whole counters, an hour-old ring, recent events."""
    cache = StatusCache(settings)
    await CountReconciler(settings, db, cache).tick()
    now = time.time()
    await cache.after_commit(
        ChangeSet(
            transitions=[
                Transition(i, "default", "type1", State.RUNNING, State.COMPLETED, 1, version=3)
                for i in range(1, 101)
            ]
        )
    )
    await cache.redis.hset(cache.keys.throughput, "since", int(now) - 3700)
    return cache


async def page_ms(db: Database, flt: JobFilter, before: int | None) -> float:
    async with db.connection() as conn:
        return await timed(lambda: job_page(conn, flt, limit=PAGE, before=before))


async def offset_page_ms(db: Database, where: str, params: dict[str, Any], offset: int) -> float:
    statement = text(OFFSET_PAGE.format(where=where))
    async with db.connection() as conn:
        return await timed(
            lambda: conn.execute(statement, {**params, "limit": PAGE, "offset": offset})
        )


async def deepest(db: Database, where: str, params: dict[str, Any]) -> tuple[int, int]:
    """(rows matching, id that makes the keyset page the last one)."""
    async with db.connection() as conn:
        row = (
            await conn.execute(
                text(
                    f"SELECT count(*) AS n, (SELECT id FROM jobs j {where} ORDER BY id "
                    f"OFFSET {PAGE} LIMIT 1) AS before FROM jobs j {where}"
                ),
                params,
            )
        ).one()
    return int(row.n), int(row.before)


async def run(settings: Settings, repeat: int) -> None:
    db = Database(settings)
    try:
        rows: list[list[object]] = []
        pg_only = await median_of(repeat, lambda: _db_ms(db, settings, None))
        pg_server = await median_of(repeat, lambda: server_ms(db, settings, None))
        cache = await warm_cache(db, settings)
        try:
            warm = await median_of(repeat, lambda: _db_ms(db, settings, cache))
            warm_server = await median_of(repeat, lambda: server_ms(db, settings, cache))
            _, sections = await snapshot_db_ms(db, settings, None)
        finally:
            await cache.redis.delete(
                *[k async for k in cache.redis.scan_iter(f"{settings.namespace}:*")]
            )
            await cache.close()
        naive = await median_of(repeat, lambda: naive_snapshot_ms(db))
        rows.append(
            [
                "snapshot, PostgreSQL only (Redis down)",
                f"{pg_only:.1f}",
                f"{naive:.1f}",
                f"{naive / pg_only:.0f}x",
            ]
        )
        rows.append(
            ["snapshot, warm Redis cache", f"{warm:.1f}", f"{naive:.1f}", f"{naive / warm:.0f}x"]
        )
        rows.append(
            ["  PostgreSQL only, server time (EXPLAIN ANALYZE)", f"{pg_server:.1f}", "", ""]
        )
        rows.append(
            ["  warm Redis cache, server time (EXPLAIN ANALYZE)", f"{warm_server:.1f}", "", ""]
        )

        cases = [
            ("all jobs", JobFilter(), "", {}),
            ("state=failed", JobFilter(state=State.FAILED), "WHERE j.state = :s", {"s": "failed"}),
            ("queue=emails", JobFilter(queue="emails"), "WHERE j.queue = :q", {"q": "emails"}),
        ]
        for label, flt, where, params in cases:
            n, before = await deepest(db, where, params)
            first = await median_of(repeat, lambda f=flt: page_ms(db, f, None))
            deep = await median_of(repeat, lambda f=flt, b=before: page_ms(db, f, b))
            peer_first = await median_of(
                repeat, lambda w=where, p=params: offset_page_ms(db, w, p, 0)
            )
            peer_deep = await median_of(
                repeat, lambda w=where, p=params, o=n - PAGE: offset_page_ms(db, w, p, o)
            )
            rows.append(
                [
                    f"first page, {label}",
                    f"{first:.1f}",
                    f"{peer_first:.1f}",
                    f"{peer_first / first:.1f}x",
                ]
            )
            rows.append(
                [
                    f"deepest page, {label} ({n:,} rows)",
                    f"{deep:.1f}",
                    f"{peer_deep:.1f}",
                    f"{peer_deep / deep:.0f}x",
                ]
            )
        print()
        print_table(["ms (median)", "ours", "naive peer", "ratio"], rows)
        print()
        print("snapshot sections, PostgreSQL only (wall ms, one run):")
        print("  " + ", ".join(f"{name} {ms:.1f}" for name, ms in sorted(sections.items())))
    finally:
        await db.close()


async def _db_ms(db: Database, settings: Settings, cache: StatusCache | None) -> float:
    ms, _ = await snapshot_db_ms(db, settings, cache)
    return ms


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--database-url", help="a database loaded by bench.load_million --keep")
    args = parser.parse_args()
    if args.database_url:
        base = load_settings()
        settings = base.evolve(database_url=args.database_url, namespace="qcbench-dashboard")
        await run(settings, args.repeat)
        return
    settings = bench_settings("dashboard")
    await migrate(settings)
    try:
        db = Database(settings)
        started = time.perf_counter()
        async with db.transaction() as conn:
            await load_jobs(conn, args.jobs)
        await vacuum_analyze(db)
        await db.close()
        print(f"loaded {args.jobs:,} jobs in {time.perf_counter() - started:.1f} s")
        await run(settings, args.repeat)
    finally:
        await drop_database(settings)


if __name__ == "__main__":
    asyncio.run(main())
