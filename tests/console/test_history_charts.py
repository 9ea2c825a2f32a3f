"""The Overview's charts draw the engine's per-minute history from PostgreSQL: a console
opened after jobs finished shows them, and ``<`` / ``>`` change the range."""

from __future__ import annotations

from sqlalchemy import text

from engine.db.database import Database
from engine.db.driver import DriverDatabase
from engine.maintenance.rollup import MinuteRollup
from queueconsole.console.widgets.chart import SeriesChart
from tests.console.conftest import screen_text, settle, until


async def _finished_minutes_ago(db: Database, queue: str, minutes: int, jobs: int) -> None:
    """``jobs`` jobs of ``queue`` that waited 2 s and finished ``minutes`` minutes ago."""
    async with db.transaction() as conn:
        await conn.execute(
            text(
                "INSERT INTO jobs (type, queue, state, queued_at, started_at, finished_at) "
                "SELECT 't.chart', :q, 'completed', t - interval '3 seconds', "
                "t - interval '1 second', t FROM ("
                "  SELECT date_trunc('minute', now()) - make_interval(mins => :m)"
                "         + interval '10 seconds' AS t, generate_series(1, :n)) s"
            ),
            {"q": queue, "m": minutes, "n": jobs},
        )


async def test_a_console_opened_after_jobs_finished_shows_them_and_switches_ranges(
    db: Database, make_app
) -> None:
    await _finished_minutes_ago(db, "mail", 20, 7)
    pool = DriverDatabase(db.settings)
    try:
        service = MinuteRollup(pool, backfill_min=120)
        while await service.tick() == 0.0:
            pass
    finally:
        await pool.close()

    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await app.refresh_now()
        await settle(app, pilot)
        done = app.query_one("#chart-throughput", SeriesChart)
        await until(pilot, lambda: done.view is not None)
        shown = screen_text(app)
        assert "last 1h" in shown and "done/min 1h" in shown
        assert done.view is not None and sum(done.view.lines[0].values) == 7
        assert len(done.view.lines[0].values) == 60
        wait = app.query_one("#chart-wait", SeriesChart).view
        assert wait is not None and max(wait.lines[1].values) == 2.0  # p95 of 2 s waits

        await pilot.press("less_than_sign")
        await until(pilot, lambda: done.view is not None and "15m" in done.view.title)
        await settle(app, pilot)
        shown = screen_text(app)
        assert "last 15m" in shown and "done/min 15m" in shown
        assert done.view is not None and sum(done.view.lines[0].values) == 0  # 20 min ago

        await pilot.press("greater_than_sign", "greater_than_sign")
        await until(pilot, lambda: done.view is not None and "24h" in done.view.title)
        await settle(app, pilot)
        shown = screen_text(app)
        assert "last 24h" in shown and "done/10min 24h" in shown
        assert done.view is not None and sum(done.view.lines[0].values) == 7
