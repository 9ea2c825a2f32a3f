"""A bulk cancel of thousands of jobs runs server-side in committed batches while the
console keeps answering keys, and never loads the jobs it acts on.

To make "while" certain without timing anything, the test holds a row lock on the last
matching job: the bulk commits its earlier batches, then waits on that row. A key
pressed then must be handled (the pane changes), and the database must show the bulk
part-way. Once the lock goes, the bulk finishes and every job is cancelled.
"""

from __future__ import annotations

from sqlalchemy import text

from engine.specs import JobSpec
from queueconsole.console.panes.jobs import JobsPane
from queueconsole.console.screens.choice import ChoiceScreen
from queueconsole.console.screens.confirm import ConfirmScreen
from queueconsole.console.widgets.keyed_table import KeyedTable
from tests.console.conftest import notifications, screen_text, settle, until

JOBS = 5_000
SUBMIT_BATCH = 1_000


async def cancelled(db) -> int:
    async with db.connection() as conn:
        return int(
            await conn.scalar(
                text("SELECT count(*) FROM jobs WHERE type = 'bulk.me' AND state = 'cancelled'")
            )
        )


async def test_bulk_cancel_of_thousands_completes_server_side_while_keys_still_work(
    client, db, make_app
):
    ids: list[int] = []
    for start in range(0, JOBS, SUBMIT_BATCH):
        batch = [JobSpec("bulk.me", {"n": i}) for i in range(start, start + SUBMIT_BATCH)]
        ids += [j.id for j in await client.submit_many(batch)]
    other = await client.submit("demo.noop")
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await app.refresh_now()
        await pilot.press("2")
        await settle(app, pilot)
        await pilot.press("slash")
        for char in "type:bulk.me":
            await pilot.press(char)
        await pilot.press("enter")
        await settle(app, pilot)
        await pilot.press("B")
        await until(pilot, lambda: isinstance(app.screen, ChoiceScreen))
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), tries=1500)
        await until(pilot, lambda: f"Cancel {JOBS:,} jobs?" in screen_text(app))
        async with db.transaction() as held:
            await held.execute(
                text("SELECT id FROM jobs WHERE id = :id FOR UPDATE"), {"id": max(ids)}
            )
            await pilot.press("y")
            # the batches before the held row commit; the last one waits on it
            for _ in range(3000):
                if await cancelled(db) >= JOBS - 500:
                    break
                await pilot.pause(0.02)
            assert JOBS - 500 <= await cancelled(db) < JOBS
            await pilot.press("1")  # handled while the bulk runs
            await until(pilot, lambda: app.active_pane.id == "overview")
            assert "Overview" in screen_text(app)
            assert await cancelled(db) < JOBS  # still running: the key did not wait for it
        await until(pilot, lambda: any("cancelled 5,000 jobs" in n for n in notifications(app)))
        jobs = app.query_one("#jobs", JobsPane)
        loaded = len(jobs.query_one("#jobs-table", KeyedTable).row_keys)
        assert loaded <= 100  # one page on screen, never the selection
    assert await cancelled(db) == JOBS
    async with db.connection() as conn:
        assert (
            await conn.scalar(text("SELECT state FROM jobs WHERE id = :id"), {"id": other.id})
            == "queued"
        )
