"""Navigation: paging and filtering jobs, walking dependencies, help, palette, no colour."""

from __future__ import annotations

import re

import pytest

from engine.snapshots import JobFilter
from engine.specs import JobSpec
from engine.states import State
from queueconsole.console.app import ConsoleApp
from queueconsole.console.filters import FilterError, describe_filter, parse_filter
from queueconsole.console.screens.help import HelpScreen
from queueconsole.console.screens.job_detail import JobDetailScreen
from queueconsole.console.source import JOBS_PAGE
from queueconsole.console.widgets.keyed_table import KeyedTable
from tests.console.conftest import FakeSupervisor, screen_text, settle, until
from tests.support.flow import exhaust


def test_filter_language_round_trips():
    flt = parse_filter("state:failed queue:mail type:resize workflow:7 disk full")
    assert flt == JobFilter(
        state=State.FAILED, queue="mail", type="resize", text="disk full", workflow_id=7
    )
    assert parse_filter(describe_filter(flt)) == flt
    assert parse_filter("") == JobFilter()
    assert parse_filter("[bold]x") == JobFilter(text="[bold]x")
    with pytest.raises(FilterError, match="unknown state"):
        parse_filter("state:nope")
    with pytest.raises(FilterError, match="workflow"):
        parse_filter("workflow:abc")


async def test_jobs_are_paged_by_keyset_never_loaded_whole(client, make_app):
    await client.submit_many([JobSpec("demo.noop", {"n": i}) for i in range(JOBS_PAGE + 30)])
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2")
        await settle(app, pilot)
        table = app.query_one("#jobs-table", KeyedTable)
        assert len(table.row_keys) == JOBS_PAGE
        assert table.row_keys[0] == JOBS_PAGE + 30
        await pilot.press("right_square_bracket")
        await settle(app, pilot)
        assert table.row_keys == tuple(range(30, 0, -1))
        assert "page 2" in screen_text(app)
        await pilot.press("left_square_bracket")
        await settle(app, pilot)
        assert len(table.row_keys) == JOBS_PAGE


async def test_filter_bar_narrows_the_list(client, db, make_app):
    await client.submit("demo.noop", queue="mail")
    failed = await client.submit("demo.fail", max_retries=0)
    await exhaust(db, failed.id)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2")
        await settle(app, pilot)
        await pilot.press("slash")
        await pilot.press(*"state:failed")
        await pilot.press("enter")
        await settle(app, pilot)
        table = app.query_one("#jobs-table", KeyedTable)
        assert table.row_keys == (failed.id,)
        assert "filter: state:failed" in screen_text(app)
        await pilot.press("slash", "escape")
        assert table.has_focus


async def test_dependencies_are_navigable_from_the_detail_screen(client, make_app):
    wf = await client.submit_workflow(
        [JobSpec("etl.extract", ref="a"), JobSpec("etl.load", ref="b", depends_on=["a"])]
    )
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2")
        await settle(app, pilot)
        app.query_one("#jobs-table", KeyedTable).select_key(wf.ids["b"])
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, JobDetailScreen) and app.screen.job)
        assert "↑ 1 etl.extract" in screen_text(app)
        await pilot.press("enter")  # the upstream job
        await until(
            pilot,
            lambda: (
                isinstance(app.screen, JobDetailScreen)
                and app.screen.job is not None
                and app.screen.job.id == wf.ids["a"]
            ),
        )
        assert "↓ 2 etl.load" in screen_text(app)
        await pilot.press("escape")
        assert app.screen.job.id == wf.ids["b"]
        await pilot.press("escape")
        assert not isinstance(app.screen, JobDetailScreen)


async def test_help_lists_every_binding(make_app):
    app = make_app()
    async with app.run_test(size=(120, 70)) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = screen_text(app)
        for key, what in [
            ("1", "Overview"),
            ("5", "Failures"),
            ("r", "Retry"),
            ("c", "Cancel"),
            ("R", "Retry group"),
            ("+", "Scale queue up"),
            ("-", "Scale queue down"),
            ("k", "Recycle worker"),
            ("p", "Pause/resume queue"),
            ("g", "Graph"),
            ("/", "Filter"),
            ("q", "Quit"),
            ("ctrl+p", "command palette"),
        ]:
            pattern = rf"(^|\s){re.escape(key)}\s+{re.escape(what)}"
            assert re.search(pattern, text, re.MULTILINE), (key, what)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_palette_has_every_action(client, db, make_app):
    job = await client.submit("demo.fail", max_retries=0)
    await exhaust(db, job.id)
    app = make_app(supervisor=FakeSupervisor())
    async with app.run_test(size=(100, 30)) as pilot:
        await app.refresh_now()
        await pilot.press("5")
        await settle(app, pilot)
        await pilot.press("enter")
        names = [e.name for e in app.palette_entries()]
        for wanted in (
            f"Retry job {job.id}",
            f"Cancel job {job.id}",
            "Retry failure group (1 jobs)",
            "Pause queue default",
            "Scale queue default up",
            "Scale queue default down",
            "Recycle worker w-default-1",
            "Show Failures",
            "Quit (drains the embedded engine)",
        ):
            assert wanted in names
        await pilot.press("ctrl+p")
        await pilot.press(*"Scale queue default up")
        await pilot.pause()
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.link.supervisor.targets["default"] == 3


async def test_works_without_colour(client, make_app, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    await client.submit("demo.noop")
    app = make_app()
    assert isinstance(app, ConsoleApp)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.refresh_now()
        await pilot.press("2")
        await settle(app, pilot)
        assert app.no_color
        text = screen_text(app)
        assert "[2 Jobs]" in text  # the active pane is marked in text, not only in colour
        assert "queued" in text
