"""The Schedules pane (6): what it shows, and p / f / enter acting on the real database."""

from __future__ import annotations

from sqlalchemy import text

from queueconsole.console.screens.confirm import ConfirmScreen
from queueconsole.console.screens.job_detail import JobDetailScreen
from queueconsole.console.widgets.keyed_table import KeyedTable
from tests.console.conftest import notifications, screen_text, settle, until

YEARLY = "0 0 1 1 *"


async def open_schedules(app, pilot, name: str | None = None) -> KeyedTable:
    await app.refresh_now()
    await pilot.press("6")
    await settle(app, pilot)
    await app.refresh_now()
    await settle(app, pilot)
    table = app.query_one("#schedules-table", KeyedTable)
    if name is not None:
        assert table.select_key(name)
    return table


async def test_the_pane_lists_schedules_with_next_fire_state_and_missed_ticks(client, db, make_app):
    await client.add_schedule("nightly-report", YEARLY, "reports.build", queue="slow")
    await client.add_schedule("cleanup", "*/5 * * * *", "maint.cleanup")
    await client.pause_schedule("cleanup")
    async with db.transaction() as conn:
        await conn.execute(
            text(
                "INSERT INTO schedule_fires (schedule_id, tick, missed) "
                "SELECT id, now() - interval '1 hour', 7 FROM schedules WHERE name = 'cleanup'"
            )
        )
    app = make_app()
    async with app.run_test(size=(140, 30)) as pilot:
        table = await open_schedules(app, pilot)
        assert table.row_keys == ("cleanup", "nightly-report")
        screen = screen_text(app)
        assert "2 schedules · 1 paused" in screen
        nightly = [c.plain for c in table.get_row("nightly-report")]
        assert nightly[1] == "active" and nightly[3].startswith("in ")
        assert nightly[7:] == ["reports.build", "slow"]
        cleanup = [c.plain for c in table.get_row("cleanup")]
        assert cleanup[1] == "paused" and cleanup[3] == "-" and cleanup[6] == "7"


async def test_p_pauses_and_resumes_the_schedule_under_the_cursor(client, make_app):
    await client.add_schedule("hourly", "0 * * * *", "demo.noop")
    app = make_app()
    async with app.run_test(size=(140, 30)) as pilot:
        await open_schedules(app, pilot, "hourly")
        await pilot.press("p")
        await settle(app, pilot)
        [schedule] = await client.schedules()
        assert schedule.paused
        await app.refresh_now()
        await settle(app, pilot)
        await pilot.press("p")
        await settle(app, pilot)
        [schedule] = await client.schedules()
        assert not schedule.paused


async def test_f_fires_after_confirmation_and_enter_opens_the_job_it_made(client, db, make_app):
    before = await client.add_schedule("yearly", YEARLY, "reports.yearly", {"year": 1})
    app = make_app()
    async with app.run_test(size=(140, 30)) as pilot:
        await open_schedules(app, pilot, "yearly")
        await pilot.press("f")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "submits one reports.yearly job to queue default now" in screen_text(app)
        await pilot.press("y")
        await settle(app, pilot)
        fired = [n for n in notifications(app) if "fired now: job" in n]
        assert fired, notifications(app)
        job_id = int(fired[-1].rsplit(" ", 1)[1])
        assert (await client.job(job_id)).type == "reports.yearly"
        [after] = await client.schedules()
        assert after.next_fire_at == before.next_fire_at  # the cron tick is not moved
        await app.refresh_now()
        await settle(app, pilot)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, JobDetailScreen))


async def test_read_only_refuses_pause_and_fire(client, db, make_app):
    await client.add_schedule("guarded", YEARLY, "demo.noop")
    app = make_app(read_only=True)
    async with app.run_test(size=(140, 30)) as pilot:
        await open_schedules(app, pilot, "guarded")
        await pilot.press("p")
        await pilot.press("f")
        await settle(app, pilot)
        assert not isinstance(app.screen, ConfirmScreen)
        assert sum("read-only" in n for n in notifications(app)) == 2
    [schedule] = await client.schedules()
    assert not schedule.paused
    async with db.connection() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM jobs"))).scalar() == 0
