"""The Failures pane marks dead-lettered jobs and replays or purges them, asking first."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from engine.broker.publisher import Publisher
from engine.client import Client
from engine.config import Settings
from engine.db.database import Database
from engine.specs import JobSpec
from engine.states import State
from queueconsole.console.app import ConsoleApp
from queueconsole.console.link import AttachedLink
from queueconsole.console.screens.confirm import ConfirmScreen
from queueconsole.console.widgets.keyed_table import KeyedTable
from tests.console.conftest import FIXED_NOW, healthy, notifications, screen_text, settle, until
from tests.deadletters.conftest import copies_in_broker, fail_ids, fail_jobs
from tests.support.flow import state_of


@pytest.fixture
async def dead_app(dead_client: Client) -> AsyncIterator[Callable[..., ConsoleApp]]:
    """A console attached to the test's namespace, whose actions publish."""
    made: list[ConsoleApp] = []

    def make(*, read_only: bool = False) -> ConsoleApp:
        link = AttachedLink(dead_client.settings, dead_client, probe=healthy)
        app = ConsoleApp(link, read_only=read_only, refresh_s=None, clock=lambda: FIXED_NOW)
        made.append(app)
        return app

    yield make
    for app in made:
        await app.link.stop()


async def _failures(client: Client, publisher: Publisher) -> tuple[list[int], int]:
    """Two failures with a copy, swept, and one whose copy never reached the broker."""
    copied = await fail_jobs(client, publisher, 2)
    lost = (await client.submit("demo.fail")).id
    await fail_ids(client.db, None, [lost])
    await client.sweep_dead()
    return copied, lost


async def _group_jobs(app: ConsoleApp, pilot: Any) -> KeyedTable:
    await pilot.press("5")
    await settle(app, pilot)
    await pilot.press("enter")  # into the group's jobs
    return app.query_one("#group-jobs", KeyedTable)


async def test_the_failures_pane_marks_the_jobs_whose_copy_is_in_the_dead_letter_queue(
    dead_client: Client, publisher: Publisher, dead_app: Callable[..., ConsoleApp]
) -> None:
    copied, lost = await _failures(dead_client, publisher)
    app = dead_app()
    async with app.run_test(size=(160, 48)) as pilot:
        jobs = await _group_jobs(app, pilot)
        marks = {i: jobs.get_row(str(i))[5].plain for i in [*copied, lost]}
        assert marks == {copied[0]: "dead", copied[1]: "dead", lost: "-"}
        assert "2 shown in the dead-letter queue" in screen_text(app)


async def test_d_replays_the_selected_job_and_removes_its_copy_after_confirming(
    space: Settings,
    db: Database,
    dead_client: Client,
    publisher: Publisher,
    dead_app: Callable[..., ConsoleApp],
) -> None:
    flow = await dead_client.submit_workflow(
        [JobSpec("demo.fail", ref="a"), JobSpec("demo.noop", ref="b", depends_on=["a"])]
    )
    a, b = flow.ids["a"], flow.ids["b"]
    await fail_ids(db, publisher, [a])
    other = await fail_jobs(dead_client, publisher, 1)
    await dead_client.sweep_dead()
    app = dead_app()
    async with app.run_test(size=(80, 24)) as pilot:
        jobs = await _group_jobs(app, pilot)
        assert jobs.select_key(a)
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.pause()
        dialog = screen_text(app)
        assert f"Replay job {a}?" in dialog and "its dead-letter copy goes" in dialog
        assert f"{b} demo.noop (blocked)" in dialog
        await pilot.press("y")
        await settle(app, pilot)
        assert "replayed 1 job; 1 dead-letter copy removed" in notifications(app)
    assert await state_of(db, a) is State.QUEUED
    assert await state_of(db, b) is State.PENDING
    assert [j for j, _ in await copies_in_broker(space)] == other


async def test_x_purges_the_copies_after_saying_how_many_and_keeps_the_failures(
    space: Settings,
    db: Database,
    dead_client: Client,
    publisher: Publisher,
    dead_app: Callable[..., ConsoleApp],
) -> None:
    copied, lost = await _failures(dead_client, publisher)
    app = dead_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("5")
        await settle(app, pilot)
        await pilot.press("x")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.pause()
        dialog = screen_text(app)
        assert "Purge the dead-letter queue?" in dialog and "2 copies" in dialog
        await pilot.press("y")
        await settle(app, pilot)
    assert await copies_in_broker(space) == []
    assert {await state_of(db, i) for i in [*copied, lost]} == {State.FAILED}


async def test_read_only_refuses_replay_and_purge(
    space: Settings, dead_client: Client, publisher: Publisher, dead_app: Callable[..., ConsoleApp]
) -> None:
    copied, _ = await _failures(dead_client, publisher)
    app = dead_app(read_only=True)
    async with app.run_test(size=(80, 24)) as pilot:
        jobs = await _group_jobs(app, pilot)
        assert jobs.select_key(copied[0])
        for key in ("d", "D", "x"):
            await pilot.press(key)
            await settle(app, pilot)
            assert not isinstance(app.screen, ConfirmScreen)
        assert sum("read-only" in n for n in notifications(app)) == 3
    assert sorted(j for j, _ in await copies_in_broker(space)) == copied
