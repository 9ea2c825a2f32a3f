"""The console's `+` on a worker scales that worker's queue on that worker's host only.

Two engines stand for two hosts (``host_name`` alpha and beta), one worker each on
``mail``; the console is attached (``--attach``), so its request travels over the control
exchange exactly as it would to another machine. With the cursor on beta's worker, `+`
gives beta a second worker and leaves alpha as it was.
"""

from __future__ import annotations

import asyncio

from engine.runtime.engine import Engine, EngineOptions
from queueconsole.console.app import ConsoleApp
from queueconsole.console.link import AttachedLink
from queueconsole.console.widgets.keyed_table import KeyedTable
from tests.console.conftest import healthy, notifications, settle, until
from tests.support.runtime import isolated


async def test_plus_on_a_worker_scales_its_queue_on_its_host_only(client, migrated):
    settings = isolated(migrated)
    alpha = Engine(settings.evolve(host_name="alpha"), EngineOptions(workers={"mail": 1}))
    beta = Engine(settings.evolve(host_name="beta"), EngineOptions(workers={"mail": 1}))
    link: AttachedLink | None = None
    try:
        await alpha.start()
        await beta.start()
        link = await AttachedLink.open(settings, attach=True)
        link.watch.probe = healthy
        app = ConsoleApp(link, refresh_s=None)
        async with app.run_test(size=(120, 30)) as pilot:
            workers = app.query_one("#workers-table", KeyedTable)

            async def beta_worker() -> str | None:
                await app.refresh_now()
                await pilot.pause()
                return next((w.id for w in app.overview.workers.workers if w.host == "beta"), None)

            await pilot.press("4")
            await settle(app, pilot)
            chosen = None
            for _ in range(200):  # until beta's worker has registered (a bounded wait)
                chosen = await beta_worker()
                if chosen is not None:
                    break
                await asyncio.sleep(0.05)
            assert chosen is not None, "beta's worker never registered"
            workers.focus()
            assert workers.select_key(chosen)
            await pilot.press("plus")
            await settle(app, pilot)
            await until(pilot, lambda: beta.supervisor.targets.get("mail") == 2)
            assert alpha.supervisor.targets == {"mail": 1}
            assert any("queue mail on beta: 2 workers requested" in n for n in notifications(app))
    finally:
        if link is not None:
            await link.stop()
        await alpha.stop(grace_s=5)
        await beta.stop(grace_s=5)
