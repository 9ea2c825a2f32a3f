"""Minute rollup: jobs finished in known minutes with known waits become exact rows of
``queue_minutes``, once, whatever runs it how often; the history read API shows them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from engine.client import Client
from engine.db.database import Database
from engine.db.driver import DriverConnection, DriverDatabase
from engine.errors import UserError
from engine.maintenance.rollup import MinuteRollup, rollup_batch
from engine.queries.queue_minutes import QUEUE_MINUTE_FINISHED, QUEUE_MINUTE_ROLLUP_STORE

BACKFILL_MIN = 120  # the tests' backfill: two hours, a few dozen batches


@pytest.fixture
async def pool(db: Database) -> AsyncIterator[DriverDatabase]:
    """asyncpg's own pool, as an engine gives its services."""
    handle = DriverDatabase(db.settings)
    try:
        yield handle
    finally:
        await handle.close()


async def _minute(db: Database, minutes_ago: int) -> datetime:
    """The start of the minute ``minutes_ago`` minutes before the current one (DB clock)."""
    async with db.connection() as conn:
        return await conn.scalar(
            text("SELECT date_trunc('minute', now()) - make_interval(mins => :m)"),
            {"m": minutes_ago},
        )


async def _finish(
    db: Database,
    queue: str,
    minute: datetime,
    waits: list[float],
    *,
    state: str = "completed",
) -> None:
    """Jobs of ``queue`` that waited ``waits`` seconds each and finished inside ``minute``."""
    async with db.transaction() as conn:
        for i, wait in enumerate(waits):
            finished = minute + timedelta(seconds=1 + (i % 58))
            started = finished - timedelta(milliseconds=100)
            await conn.execute(
                text(
                    "INSERT INTO jobs (type, queue, state, queued_at, started_at, finished_at) "
                    "VALUES ('t.rollup', :q, :s, :queued, :started, :finished)"
                ),
                {
                    "q": queue,
                    "s": state,
                    "queued": started - timedelta(seconds=wait),
                    "started": started,
                    "finished": finished,
                },
            )


async def _rows(db: Database) -> dict[tuple[datetime, str], tuple[Any, ...]]:
    async with db.connection() as conn:
        rows = await conn.execute(
            text(
                "SELECT minute, queue, completed, failed, wait_p50_s, wait_p95_s "
                "FROM queue_minutes WHERE completed + failed > 0"
            )
        )
        return {
            (r.minute, r.queue): (r.completed, r.failed, r.wait_p50_s, r.wait_p95_s) for r in rows
        }


async def _roll_all(service: MinuteRollup) -> None:
    """Tick until the service has nothing closed left to roll up."""
    while await service.tick() == 0.0:
        pass


async def _known_minutes(db: Database) -> tuple[datetime, datetime]:
    m30, m29 = await _minute(db, 30), await _minute(db, 29)
    # mail, 30 minutes ago: 20 completed waiting 1..20 s, 2 failed waiting 100 and 200 s,
    # one cancelled (not counted); img, 29 minutes ago: 3 completed waiting 5, 6, 7 s.
    await _finish(db, "mail", m30, [float(w) for w in range(1, 21)])
    await _finish(db, "mail", m30, [100.0, 200.0], state="failed")
    await _finish(db, "mail", m30, [999.0], state="cancelled")
    await _finish(db, "img", m29, [5.0, 6.0, 7.0])
    return m30, m29


# percentile_disc: the smallest wait with at least that share of the jobs at or below it.
# 22 waits (1..20, 100, 200): p50 is the 11th (11 s), p95 the 21st (100 s).
def _expected(m30: datetime, m29: datetime) -> dict[tuple[datetime, str], tuple[Any, ...]]:
    return {(m30, "mail"): (20, 2, 11.0, 100.0), (m29, "img"): (3, 0, 6.0, 7.0)}


async def test_jobs_finished_in_known_minutes_roll_up_to_exact_counts_and_percentiles(
    db: Database, pool: DriverDatabase
) -> None:
    m30, m29 = await _known_minutes(db)
    await _roll_all(MinuteRollup(pool, backfill_min=BACKFILL_MIN))
    assert await _rows(db) == _expected(m30, m29)


async def test_rolling_up_the_same_minutes_again_changes_nothing(
    db: Database, pool: DriverDatabase
) -> None:
    m30, m29 = await _known_minutes(db)
    await _roll_all(MinuteRollup(pool, backfill_min=BACKFILL_MIN))
    async with db.transaction() as conn:  # as if the marker had never moved: all again
        await conn.execute(text("DELETE FROM queue_minute_rollup"))
    await _roll_all(MinuteRollup(pool, backfill_min=BACKFILL_MIN))
    assert await _rows(db) == _expected(m30, m29)


async def test_two_engines_rolling_up_at_once_count_every_minute_once(
    db: Database, pool: DriverDatabase
) -> None:
    m30, m29 = await _known_minutes(db)
    other = DriverDatabase(db.settings)
    try:
        await asyncio.gather(
            _roll_all(MinuteRollup(pool, backfill_min=BACKFILL_MIN, batch_min=1)),
            _roll_all(MinuteRollup(other, backfill_min=BACKFILL_MIN, batch_min=1)),
        )
    finally:
        await other.close()
    assert await _rows(db) == _expected(m30, m29)


async def test_an_engine_finding_the_marker_held_rests_and_writes_nothing(
    db: Database, pool: DriverDatabase
) -> None:
    await _known_minutes(db)
    await _roll_all(MinuteRollup(pool, backfill_min=BACKFILL_MIN))
    async with db.transaction() as conn:
        await conn.execute(text("UPDATE queue_minute_rollup SET rolled_until = rolled_until"))
        # Another engine's batch holds the marker now.
        blocked = await pool.run(lambda c: rollup_batch(c, backfill_min=BACKFILL_MIN))
    assert blocked.busy and blocked.rows == 0


async def test_an_engine_back_after_a_gap_backfills_it_but_not_beyond_the_backfill(
    db: Database, pool: DriverDatabase
) -> None:
    service = MinuteRollup(pool, backfill_min=BACKFILL_MIN)
    await _roll_all(service)
    async with db.transaction() as conn:  # the engine was down for 100 minutes
        await conn.execute(
            text(
                "UPDATE queue_minute_rollup "
                "SET rolled_until = date_trunc('minute', now()) - interval '100 minutes'"
            )
        )
    m90 = await _minute(db, 90)
    too_old = await _minute(db, BACKFILL_MIN + 10)
    await _finish(db, "mail", m90, [2.0, 4.0])
    await _finish(db, "mail", too_old, [1.0])
    await _roll_all(service)
    assert await _rows(db) == {(m90, "mail"): (2, 0, 2.0, 4.0)}


async def test_rows_older_than_seven_days_are_pruned(db: Database, pool: DriverDatabase) -> None:
    async with db.transaction() as conn:
        await conn.execute(
            text(
                "INSERT INTO queue_minutes (minute, queue, completed) VALUES "
                "(date_trunc('minute', now()) - interval '8 days', 'old', 1), "
                "(date_trunc('minute', now()) - interval '6 days', 'kept', 1)"
            )
        )
    await _roll_all(MinuteRollup(pool, backfill_min=BACKFILL_MIN))
    async with db.connection() as conn:
        queues = set((await conn.execute(text("SELECT queue FROM queue_minutes"))).scalars())
    assert "old" not in queues and "kept" in queues


async def test_depth_is_sampled_into_the_current_minute(
    db: Database, pool: DriverDatabase, client: Client
) -> None:
    for _ in range(3):
        await client.submit("t.depth", queue="deep")
    await _roll_all(MinuteRollup(pool, backfill_min=BACKFILL_MIN))
    history = await client.history(timedelta(minutes=15), "deep")
    assert history.points("deep")[-1].depth == 3


def _indexes(node: dict[str, Any]) -> set[str]:
    found = {node["Index Name"]} if "Index Name" in node else set()
    for child in node.get("Plans", ()):
        found |= _indexes(child)
    return found


def _seq_scans(node: dict[str, Any]) -> set[str]:
    found = {node["Relation Name"]} if node["Node Type"] == "Seq Scan" else set()
    for child in node.get("Plans", ()):
        found |= _seq_scans(child)
    return found


@pytest.mark.parametrize("statement", ["rollup", "live edge"])
async def test_the_rollup_and_the_live_edge_read_jobs_through_the_finished_at_index(
    db: Database, statement: str
) -> None:
    """A day of finished jobs and some live ones, analysed: the five minutes a batch reads
    are a range of ``jobs_finished_at_idx``, never a scan of ``jobs``."""
    sql, names = {"rollup": QUEUE_MINUTE_ROLLUP_STORE, "live edge": QUEUE_MINUTE_FINISHED}[
        statement
    ].driver_sql()

    async def explain(wrapped: DriverConnection) -> dict[str, Any]:
        conn = wrapped.driver
        await conn.execute(
            "INSERT INTO jobs (type, queue, state, queued_at, started_at, finished_at) "
            "SELECT 't.plan', 'q' || (g % 5), "
            "CASE WHEN g % 10 = 0 THEN 'queued' WHEN g % 7 = 0 THEN 'failed' ELSE 'completed' END, "
            "now() - g * interval '1 second' - interval '2 seconds', "
            "now() - g * interval '1 second' - interval '1 second', "
            "CASE WHEN g % 10 = 0 THEN NULL ELSE now() - g * interval '1 second' END "
            "FROM generate_series(1, 86400) g"
        )
        await conn.execute("ANALYZE jobs")
        start = await conn.fetchval("SELECT date_trunc('minute', now()) - interval '30 minutes'")
        values = {"start": start, "end": start + timedelta(minutes=5)}
        raw = await conn.fetchval(f"EXPLAIN (FORMAT JSON) {sql}", *[values[n] for n in names])
        return (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]

    handle = DriverDatabase(db.settings)
    try:
        plan = await handle.run(explain)
    finally:
        await handle.close()
    assert "jobs_finished_at_idx" in _indexes(plan)
    assert "jobs" not in _seq_scans(plan)


async def test_history_shows_rolled_up_minutes_and_the_live_minute(
    db: Database, pool: DriverDatabase, client: Client
) -> None:
    m20 = await _minute(db, 20)
    await _finish(db, "mail", m20, [3.0, 5.0, 9.0])
    await _roll_all(MinuteRollup(pool, backfill_min=BACKFILL_MIN))
    now = await _minute(db, 0)
    await _finish(db, "mail", now, [1.0], state="failed")  # not rolled up yet: read live

    hour = await client.history(timedelta(hours=1))
    assert hour.bucket == timedelta(minutes=1) and len(hour.total) == 60
    by_start = {p.start: p for p in hour.points("mail")}
    assert (by_start[m20].completed, by_start[m20].wait_p50_s, by_start[m20].wait_p95_s) == (
        3,
        5.0,
        9.0,
    )
    assert hour.points("mail")[-1].failed == 1
    assert sum(p.completed for p in hour.points("nothing-here")) == 0

    day = await client.history(timedelta(hours=24))
    assert day.bucket == timedelta(minutes=10) and len(day.total) == 144
    assert sum(p.completed for p in day.total) == 3 and sum(p.failed for p in day.total) == 1

    only_img = await client.history(timedelta(hours=1), "img")
    assert only_img.queues == ()


@pytest.mark.parametrize("window", [timedelta(seconds=10), timedelta(days=8)])
async def test_a_window_out_of_range_is_refused_by_name(client: Client, window: timedelta) -> None:
    with pytest.raises(UserError, match="history window"):
        await client.history(window)
