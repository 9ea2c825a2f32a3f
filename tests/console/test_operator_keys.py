"""Keys an operator reaches for while reading a busy console: freeze, copy, a steady cursor."""

from __future__ import annotations

import json

from queueconsole.console.widgets.keyed_table import KeyedTable
from queueconsole.console.widgets.pane_bar import FROZEN
from tests.console.conftest import notifications, screen_text, settle, until


async def test_freeze_stops_the_live_refresh_and_says_so_until_pressed_again(client, make_app):
    first = await client.submit("demo.noop", {"n": 1})
    app = make_app(refresh_s=0.05)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("2")
        table = app.query_one("#jobs-table", KeyedTable)
        await until(pilot, lambda: first.id in table.row_keys)
        await pilot.press("F")
        await settle(app, pilot)
        assert FROZEN in screen_text(app)
        later = await client.submit("demo.noop", {"n": 2})
        for _ in range(10):  # many timer periods: a live console would have drawn it by now
            await pilot.pause(0.05)
        assert later.id not in table.row_keys
        await pilot.press("F")
        await until(pilot, lambda: later.id in table.row_keys)
        assert FROZEN not in screen_text(app)


async def test_y_copies_the_job_id_and_shift_y_its_payload(client, make_app):
    job = await client.submit("demo.noop", {"order": 42, "note": "ünïcode"})
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await app.refresh_now()
        await pilot.press("2")
        await settle(app, pilot)
        assert app.query_one("#jobs-table", KeyedTable).select_key(job.id)
        await pilot.press("y")
        await settle(app, pilot)
        assert app.clipboard == str(job.id)
        await pilot.press("Y")
        await settle(app, pilot)
        assert json.loads(app.clipboard) == {"order": 42, "note": "ünïcode"}
        assert any(f"copied the payload of job {job.id}" in n for n in notifications(app))


async def test_copy_with_no_job_selected_says_why_and_copies_nothing(make_app):
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("y")
        await settle(app, pilot)
        assert app.clipboard == ""
        assert any("no job selected" in n for n in notifications(app))


async def test_the_cursor_stays_on_its_job_when_new_rows_arrive_above_it(client, make_app):
    jobs = [await client.submit("demo.noop", {"i": i}) for i in range(5)]
    watched = jobs[1]
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await app.refresh_now()
        await pilot.press("2")
        await settle(app, pilot)
        table = app.query_one("#jobs-table", KeyedTable)
        assert table.select_key(watched.id)
        row_before = table.cursor_row
        for i in range(3):  # newest first: these land above the cursor
            await client.submit("demo.noop", {"new": i})
        await app.refresh_now()
        await settle(app, pilot)
        assert table.cursor_row == row_before + 3
        assert app.selection().job_id == watched.id
        await pilot.press("enter")
        await settle(app, pilot)
        assert f"job {watched.id}" in screen_text(app).lower()
