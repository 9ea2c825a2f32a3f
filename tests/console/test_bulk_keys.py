"""space marks jobs, B retries or cancels the marked ones (or the filter's) after a preview."""

from __future__ import annotations

from engine.specs import JobSpec
from engine.states import State
from queueconsole.console.panes.jobs import JobsPane
from queueconsole.console.screens.choice import ChoiceScreen
from queueconsole.console.screens.confirm import ConfirmScreen
from queueconsole.console.widgets.keyed_table import KeyedTable
from tests.console.conftest import notifications, screen_text, settle, until
from tests.support.flow import fail_for_good, state_of


async def jobs_pane(app, pilot) -> KeyedTable:
    await app.refresh_now()
    await pilot.press("2")
    await settle(app, pilot)
    table = app.query_one("#jobs-table", KeyedTable)
    table.focus()
    return table


async def test_marked_jobs_are_cancelled_in_bulk_after_a_preview_that_counts_them(
    client, db, make_app
):
    flow = await client.submit_workflow(
        [JobSpec("etl.step", ref="a"), JobSpec("etl.step", ref="b", depends_on=["a"])]
    )
    spare = await client.submit("demo.noop")
    target = await client.submit("demo.noop")
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        table = await jobs_pane(app, pilot)
        for job_id in (target.id, flow.ids["a"]):
            assert table.select_key(job_id)
            await pilot.press("space")
            await settle(app, pilot)
        assert "2 marked" in screen_text(app)
        await pilot.press("B")
        await until(pilot, lambda: isinstance(app.screen, ChoiceScreen))
        assert "Act on the 2 marked jobs" in screen_text(app)
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        dialog = screen_text(app)
        assert "Cancel 2 jobs?" in dialog
        assert "2 jobs of the 2 marked jobs will be cancelled" in dialog
        assert f"{flow.ids['b']} etl.step (pending)" in dialog
        await pilot.press("y")
        await settle(app, pilot)
        assert any("cancelled 2 jobs, 1 dependents blocked" in n for n in notifications(app))
        assert app.query_one("#jobs", JobsPane).marked == set()
    assert await state_of(db, target.id) is State.CANCELLED
    assert await state_of(db, flow.ids["a"]) is State.CANCELLED
    assert await state_of(db, flow.ids["b"]) is State.BLOCKED
    assert await state_of(db, spare.id) is State.QUEUED


async def test_with_nothing_marked_b_retries_everything_the_filter_matches(client, db, make_app):
    failed = await client.submit_many([JobSpec("api.call", {"i": i}) for i in range(60)])
    await fail_for_good(db, [(j.id, "Boom", "boom") for j in failed])
    other = await client.submit("api.call")
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await jobs_pane(app, pilot)
        await pilot.press("slash")
        for char in "state:failed":
            await pilot.press(char)
        await pilot.press("enter")
        await settle(app, pilot)
        await pilot.press("B")
        await until(pilot, lambda: isinstance(app.screen, ChoiceScreen))
        assert "every job matching state:failed" in screen_text(app)
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "Retry 60 jobs?" in screen_text(app)  # all of them, not the page on screen
        await pilot.press("y")
        await settle(app, pilot)
    assert {await state_of(db, j.id) for j in failed} == {State.QUEUED}
    assert await state_of(db, other.id) is State.QUEUED


async def test_escape_at_the_choice_and_read_only_change_nothing(client, db, make_app):
    job = await client.submit("demo.noop")
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await jobs_pane(app, pilot)
        await pilot.press("B")
        await until(pilot, lambda: isinstance(app.screen, ChoiceScreen))
        await pilot.press("escape")
        await settle(app, pilot)
        assert not isinstance(app.screen, ChoiceScreen)
    app = make_app(read_only=True)
    async with app.run_test(size=(120, 30)) as pilot:
        await jobs_pane(app, pilot)
        await pilot.press("B")
        await settle(app, pilot)
        assert not isinstance(app.screen, ChoiceScreen)
        assert any("read-only" in n for n in notifications(app))
    assert await state_of(db, job.id) is State.QUEUED
