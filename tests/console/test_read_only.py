"""--read-only: every mutating path refuses, and says so."""

from __future__ import annotations

from engine.snapshots import JobFilter
from engine.states import State
from queueconsole.console.screens.confirm import ConfirmScreen
from queueconsole.console.widgets.keyed_table import KeyedTable
from tests.console.conftest import FakeSupervisor, notifications, settle
from tests.support.flow import exhaust, state_of


async def test_every_mutating_method_refuses(client, db, make_app):
    live = await client.submit("demo.noop")
    failed = await client.submit("demo.fail", max_retries=0)
    await exhaust(db, failed.id)
    supervisor = FakeSupervisor(targets={"default": 1})
    app = make_app(read_only=True, supervisor=supervisor)
    async with app.run_test(size=(80, 24)):
        service = app.actions
        outcomes = [
            await service.cancel(live.id),
            await service.retry(failed.id),
            await service.retry_group("RuntimeError"),  # exhaust()'s failures, by type
            await service.scale("default", 5),
            await service.recycle("w-default-1"),
            await service.pause("default"),
            await service.resume("default"),
        ]
        assert all(o.refused and not o.ok for o in outcomes)
        assert await state_of(db, live.id) is State.QUEUED
        assert await state_of(db, failed.id) is State.FAILED
        assert supervisor.targets == {"default": 1}
        assert supervisor.recycled == []
        assert all(q.paused is False for q in await client.queue_counts())
        notes = notifications(app)
        assert len(notes) == len(outcomes)
        assert all(n.startswith("read-only:") for n in notes)


async def test_keys_refuse_before_asking(client, db, make_app):
    job = await client.submit("demo.noop")
    app = make_app(read_only=True, supervisor=FakeSupervisor())
    async with app.run_test(size=(80, 24)) as pilot:
        await app.refresh_now()
        await pilot.press("2")
        await settle(app, pilot)
        assert app.query_one("#jobs-table", KeyedTable).select_key(job.id)
        await pilot.press("c")
        await settle(app, pilot)
        assert not isinstance(app.screen, ConfirmScreen)
        assert await state_of(db, job.id) is State.QUEUED
        await pilot.press("1")
        await settle(app, pilot)
        await pilot.press("plus", "p")
        await settle(app, pilot)
        notes = notifications(app)
        assert any("cancel of job" in n and "read-only" in n for n in notes)
        assert any("scaling queue default" in n for n in notes)
        assert "read-only" in app.query_one("#bar").mode


async def test_palette_entries_say_read_only_and_refuse(client, db, make_app):
    job = await client.submit("demo.noop")
    app = make_app(read_only=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.refresh_now()
        await pilot.press("2")
        await settle(app, pilot)
        app.query_one("#jobs-table", KeyedTable).select_key(job.id)
        entries = {e.name: e for e in app.palette_entries()}
        cancel = entries[f"Cancel job {job.id}"]
        assert cancel.mutates
        cancel.run()
        await settle(app, pilot)
        assert await state_of(db, job.id) is State.QUEUED
        assert any("read-only" in n for n in notifications(app))
        assert (await client.jobs(JobFilter(state=State.CANCELLED))).items == ()
