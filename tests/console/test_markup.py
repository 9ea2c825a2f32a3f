"""Text from jobs is drawn literally: markup in a payload or error is not interpreted."""

from __future__ import annotations

from sqlalchemy import text

from engine.store import transitions
from engine.store.transitions import Failure
from queueconsole.console.screens.job_detail import JobDetailScreen
from queueconsole.console.widgets.keyed_table import KeyedTable
from tests.console.conftest import screen_text, settle, until
from tests.support.flow import claim

PAYLOAD = {"a": "[bold red]x[/]", "b": "[link=http://e]y[/link]"}


async def test_payload_and_error_markup_is_shown_literally(client, db, make_app):
    job = await client.submit("demo.fail", PAYLOAD, max_retries=0, idempotency_key="[i]key[/i]")
    c = await claim(db, job.id)
    await db.run(
        lambda conn: transitions.fail(
            conn,
            [Failure(job.id, c.attempt, "Err[or]", "[bold]boom[/bold] \x1b[31m", retryable=False)],
        )
    )
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await app.refresh_now()
        await pilot.press("2")
        await settle(app, pilot)
        table_text = screen_text(app)
        assert "[bold]boom[/bold] \\x1b[31m" in table_text
        app.query_one("#jobs-table", KeyedTable).select_key(job.id)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, JobDetailScreen) and app.screen.job)
        await pilot.pause()
        shown = screen_text(app)
        assert '"a": "[bold red]x[/]"' in shown
        assert '"b": "[link=http://e]y[/link]"' in shown
        assert "Err[or]: [bold]boom[/bold]" in shown
        assert "[i]key[/i]" in shown
        assert "\x1b" not in shown


async def test_failure_group_message_is_literal(client, db, make_app):
    job = await client.submit("demo.fail", max_retries=0)
    c = await claim(db, job.id)
    await db.run(
        lambda conn: transitions.fail(
            conn, [Failure(job.id, c.attempt, "E", "[red]not red[/red]", retryable=False)]
        )
    )
    async with db.connection() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM jobs WHERE state='failed'")) == 1
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("5")
        await settle(app, pilot)
        assert "[red]not red[/red]" in screen_text(app)
