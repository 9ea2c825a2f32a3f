"""Every action, driven by its key, confirmed, and checked in the database and on screen."""

from __future__ import annotations

import pytest

from engine.snapshots import JobFilter
from engine.specs import JobSpec
from engine.states import State
from queueconsole.console.screens.confirm import ConfirmScreen
from queueconsole.console.widgets.keyed_table import KeyedTable
from tests.console.conftest import FakeSupervisor, screen_text, settle, until
from tests.support.flow import exhaust, fail_for_good, state_of


async def open_jobs_on(app, pilot, job_id: int) -> None:
    await app.refresh_now()
    await pilot.press("2")
    await settle(app, pilot)
    assert app.query_one("#jobs-table", KeyedTable).select_key(job_id)


async def test_cancel_shows_the_blocked_dependents_then_cancels(client, db, make_app):
    wf = await client.submit_workflow(
        [
            JobSpec("demo.noop", ref="a"),
            JobSpec("demo.noop", ref="b", depends_on=["a"]),
            JobSpec("demo.noop", ref="c", depends_on=["b"]),
        ]
    )
    a, b, c = wf.ids["a"], wf.ids["b"], wf.ids["c"]
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_jobs_on(app, pilot, a)
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        dialog = screen_text(app)
        assert f"Cancel job {a}?" in dialog
        assert "2 jobs downstream would be blocked" in dialog
        assert f"{b} demo.noop (pending)" in dialog
        await pilot.press("y")
        await settle(app, pilot)
        assert await state_of(db, a) is State.CANCELLED
        assert await state_of(db, b) is State.BLOCKED
        assert await state_of(db, c) is State.BLOCKED
        text = screen_text(app)
        assert "cancelled" in text and "blocked" in text


async def test_cancel_declined_changes_nothing(client, db, make_app):
    job = await client.submit("demo.noop")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_jobs_on(app, pilot, job.id)
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")
        await settle(app, pilot)
        assert await state_of(db, job.id) is State.QUEUED


async def test_retry_a_failed_job(client, db, make_app):
    job = await client.submit("demo.fail", max_retries=0)
    await exhaust(db, job.id)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_jobs_on(app, pilot, job.id)
        assert "failed" in screen_text(app)
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert f"Retry job {job.id}?" in screen_text(app)
        await pilot.press("enter")
        await settle(app, pilot)
        assert await state_of(db, job.id) is State.QUEUED
        row = app.query_one("#jobs-table", KeyedTable).get_row(str(job.id))
        assert row[1].plain == "queued"


async def test_retry_lists_the_blocked_jobs_it_may_release(client, db, make_app):
    wf = await client.submit_workflow(
        [
            JobSpec("demo.fail", ref="a", max_retries=0),
            JobSpec("demo.noop", ref="b", depends_on=["a"]),
        ]
    )
    await exhaust(db, wf.ids["a"])
    assert await state_of(db, wf.ids["b"]) is State.BLOCKED
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_jobs_on(app, pilot, wf.ids["a"])
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "1 job downstream would be released" in screen_text(app)
        await pilot.press("y")
        await settle(app, pilot)
        assert await state_of(db, wf.ids["a"]) is State.QUEUED
        assert await state_of(db, wf.ids["b"]) is State.PENDING


async def test_retry_a_failure_group(client, db, make_app):
    ids = [(await client.submit("demo.fail", {"n": i}, max_retries=0)).id for i in range(3)]
    for job_id in ids:
        await exhaust(db, job_id)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("5")
        await settle(app, pilot)
        await app.refresh_now()
        await pilot.pause()
        assert "1 groups, 3 failed jobs" in screen_text(app)
        await pilot.press("R")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.pause()
        dialog = screen_text(app)
        assert "Retry 3 failed jobs?" in dialog
        assert "3 failed jobs will be retried" in dialog
        await pilot.press("y")
        await settle(app, pilot)
        assert [await state_of(db, i) for i in ids] == [State.QUEUED] * 3
        assert "0 groups, 0 failed jobs" in screen_text(app)


async def test_retry_one_job_of_a_failure_group(client, db, make_app):
    ids = [(await client.submit("demo.fail", max_retries=0)).id for _ in range(2)]
    for job_id in ids:
        await exhaust(db, job_id)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("5")
        await settle(app, pilot)
        await pilot.press("enter")  # into the group's jobs
        assert app.query_one("#group-jobs", KeyedTable).select_key(ids[0])
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await settle(app, pilot)
        assert await state_of(db, ids[0]) is State.QUEUED
        assert await state_of(db, ids[1]) is State.FAILED


async def test_scale_the_selected_queue_up_and_down(client, make_app):
    await client.submit("demo.noop")  # the queue "default" exists once it has a job
    supervisor = FakeSupervisor(targets={"default": 2})
    app = make_app(supervisor=supervisor)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.refresh_now()
        await pilot.press("4")
        await settle(app, pilot)
        queues = app.query_one("#worker-queues", KeyedTable)
        assert queues.get_row("default")[1].plain == "2"
        await pilot.press("plus")
        await settle(app, pilot)
        assert supervisor.targets["default"] == 3
        await app.refresh_now()
        await pilot.pause()
        assert queues.get_row("default")[1].plain == "3"
        assert "w-default-3" in screen_text(app)
        await pilot.press("minus", "minus")
        await settle(app, pilot)
        await app.refresh_now()
        assert supervisor.targets["default"] == 1


async def test_recycle_the_selected_worker(client, make_app):
    await client.submit("demo.noop")
    supervisor = FakeSupervisor(targets={"default": 2})
    app = make_app(supervisor=supervisor)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.refresh_now()
        await pilot.press("4")
        await settle(app, pilot)
        workers = app.query_one("#workers-table", KeyedTable)
        workers.focus()
        assert workers.select_key("w-default-2")
        await pilot.press("k")
        await settle(app, pilot)
        assert supervisor.recycled == ["w-default-2"]
        assert any("w-default-2 will be recycled" in n for n in _notes(app))


async def test_pause_and_resume_the_selected_queue(client, make_app):
    if not app_can_pause(client):
        pytest.skip("this engine has no Client.pause_queue yet")
    await client.submit("demo.noop", queue="mail")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await app.refresh_now()
        await pilot.pause()
        assert app.query_one("#queues", KeyedTable).select_key("mail")
        await pilot.press("p")
        await settle(app, pilot)
        assert {q.queue: q.paused for q in await client.queue_counts()}["mail"] is True
        await app.refresh_now()
        await pilot.pause()
        assert "mail (paused)" in screen_text(app)
        await pilot.press("p")
        await settle(app, pilot)
        assert {q.queue: q.paused for q in await client.queue_counts()}["mail"] is False


async def test_g_opens_the_workflow_of_a_job(client, make_app):
    wf = await client.submit_workflow(
        [JobSpec("demo.noop", ref="a"), JobSpec("demo.sleep", ref="b", depends_on=["a"])],
        name="pipeline",
    )
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_jobs_on(app, pilot, wf.ids["b"])
        await pilot.press("g")
        await settle(app, pilot)
        await app.refresh_now()
        await pilot.pause()
        assert app.query_one("#bar").active == "dag"
        assert f"workflow {wf.workflow_id}" in screen_text(app)


async def test_actions_say_what_is_missing_without_a_selection(client, make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2")
        await settle(app, pilot)
        await pilot.press("c", "k")
        await settle(app, pilot)
        notes = _notes(app)
        assert "select a job to cancel" in notes
        assert any("select a worker" in n for n in notes)
        assert (await client.jobs(JobFilter())).items == ()


def _notes(app) -> list[str]:
    return [n.message for n in app._notifications]


def app_can_pause(client) -> bool:
    return hasattr(client, "pause_queue") and hasattr(client, "resume_queue")


async def test_retry_a_failure_group_retries_that_group_only(client, db, make_app):
    """Two groups whose messages match once numbers are ignored, told apart by exception
    type: the screen shows two groups, and ``R`` retries the selected one only.

    The console once re-derived a group's members from the message alone, so ``R`` on
    the ValueError group offered, and retried, the KeyError jobs too.
    """
    value_errors = [(await client.submit("demo.fail", max_retries=0)).id for _ in range(3)]
    key_errors = [(await client.submit("demo.fail", max_retries=0)).id for _ in range(2)]
    await fail_for_good(
        db,
        [(i, "ValueError", f"boom {n + 1}") for n, i in enumerate(value_errors)]
        + [(i, "KeyError", f"boom {n + 1}") for n, i in enumerate(key_errors)],
    )
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("5")
        await settle(app, pilot)
        await app.refresh_now()
        await pilot.pause()
        assert "2 groups, 5 failed jobs" in screen_text(app)
        groups = app.query_one("#groups", KeyedTable)
        assert set(groups.row_keys) == {"ValueError: boom N", "KeyError: boom N"}
        assert groups.select_key("ValueError: boom N")
        await pilot.pause()
        shown = app.query_one("#group-jobs", KeyedTable).row_keys
        assert sorted(int(str(k)) for k in shown) == value_errors
        await pilot.press("R")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.pause()
        dialog = screen_text(app)
        assert "Retry 3 failed jobs?" in dialog
        assert "3 failed jobs will be retried" in dialog
        await pilot.press("y")
        await settle(app, pilot)
        assert [await state_of(db, i) for i in value_errors] == [State.QUEUED] * 3
        assert [await state_of(db, i) for i in key_errors] == [State.FAILED] * 2
        await app.refresh_now()
        await pilot.pause()
        assert "1 groups, 2 failed jobs" in screen_text(app)
