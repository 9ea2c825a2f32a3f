"""Tenants in the console: the jobs filter, the Overview's table, the Failures pane."""

from __future__ import annotations

from engine.snapshots import JobFilter
from queueconsole.console.filters import describe_filter, parse_filter
from queueconsole.console.widgets.keyed_table import KeyedTable
from tests.console.conftest import screen_text, settle
from tests.support.flow import exhaust


def test_tenant_is_a_filter_key():
    flt = parse_filter("tenant:acme queue:mail")
    assert flt == JobFilter(queue="mail", tenant="acme")
    assert parse_filter(describe_filter(flt)) == flt


async def test_tenant_filter_table_and_failures(client, db, make_app):
    await client.add_tenant("acme", max_running=4)
    mine = await client.submit("demo.noop", tenant="acme")
    await client.submit("demo.noop")
    failed = await client.submit("demo.fail", max_retries=0, tenant="acme")
    await exhaust(db, failed.id)
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await app.refresh_now()
        await settle(app, pilot)
        tenants = app.query_one("#tenants", KeyedTable)
        assert tenants.display
        assert set(tenants.row_keys) == {"acme", "default"}
        text = screen_text(app)
        assert "running/limit" in text and "0/4" in text
        await pilot.press("2")
        await settle(app, pilot)
        await pilot.press("slash")
        await pilot.press(*"tenant:acme")
        await pilot.press("enter")
        await settle(app, pilot)
        table = app.query_one("#jobs-table", KeyedTable)
        assert set(table.row_keys) == {mine.id, failed.id}
        await pilot.press("5")
        await settle(app, pilot)
        assert "(acme)" in screen_text(app)


async def test_the_tenant_table_stays_hidden_with_only_the_default_tenant(client, make_app):
    await client.submit("demo.noop")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await app.refresh_now()
        await settle(app, pilot)
        assert app.overview.queues
        assert not app.query_one("#tenants", KeyedTable).display
