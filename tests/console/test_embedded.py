"""The console with the real embedded engine: scale, recycle, and quit draining its workers."""

from __future__ import annotations

import pytest

from queueconsole.console.app import ConsoleApp
from queueconsole.console.link import EmbeddedLink, open_link
from queueconsole.console.widgets.keyed_table import KeyedTable
from tests.console.conftest import settle, until

pytestmark = pytest.mark.slow


def targets(link: EmbeddedLink) -> dict[str, int]:
    return dict(link.engine.supervisor.snapshot().targets)


async def test_scale_recycle_and_drain_the_embedded_engine(migrated, client):
    link = await open_link(migrated, workers={"default": 1})
    assert isinstance(link, EmbeddedLink) and link.mode == "embedded"
    app = ConsoleApp(link, refresh_s=None)
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: link.started, tries=1500)
        await client.submit("demo.noop")
        await app.refresh_now()
        await pilot.press("4")
        await settle(app, pilot)
        queues = app.query_one("#worker-queues", KeyedTable)
        assert queues.select_key("default")
        await pilot.press("plus")
        await settle(app, pilot)
        assert targets(link)["default"] == 2
        await until(pilot, lambda: len(link.engine.supervisor.pids()) == 2, tries=1500)
        await app.refresh_now()
        await pilot.pause()
        workers = app.query_one("#workers-table", KeyedTable)
        assert len(workers.row_keys) >= 2
        before = set(link.engine.supervisor.pids())
        workers.focus()
        workers.select_key(workers.row_keys[0])
        await pilot.press("k")
        await settle(app, pilot)
        await until(pilot, lambda: set(link.engine.supervisor.pids()) - before != set(), tries=3000)
        await pilot.press("q")
        await until(pilot, lambda: app.stopped_engine, tries=3000)
    assert link.engine.supervisor.pids() == []
