"""--attach: no embedded engine; scale and recycle travel over the broker's control exchange."""

from __future__ import annotations

import asyncio

from engine.broker.control import ControlBus
from queueconsole.console.app import ConsoleApp
from queueconsole.console.link import AttachedLink
from queueconsole.console.model import Selection
from queueconsole.console.widgets.keyed_table import KeyedTable
from tests.console.conftest import healthy, notifications, settle, until


async def test_attached_console_sends_scale_and_recycle_commands(migrated, client):
    received: list[dict] = []
    listener = ControlBus(migrated, name="test-listener")

    async def on_command(command: dict) -> None:
        if command.get("cmd") != "budget":  # the console asks for budgets as it refreshes
            received.append(command)

    await listener.subscribe(on_command)
    link = await AttachedLink.open(migrated, attach=True)
    link.watch.probe = healthy
    link.scale_wait_s = 0.5  # nothing here answers: the console says so after the wait
    assert link.mode == "attached" and link.can_scale
    app = ConsoleApp(link, refresh_s=None)
    try:
        await client.submit("demo.noop", queue="mail")
        async with app.run_test(size=(100, 30)) as pilot:
            await app.refresh_now()
            await pilot.press("4")
            await settle(app, pilot)
            assert app.query_one("#worker-queues", KeyedTable).select_key("mail")
            await pilot.press("plus")
            await settle(app, pilot)
            await until(pilot, lambda: bool(received))
            request_id = received[0].pop("request_id")
            assert received[0] == {"cmd": "scale", "queue": "mail", "workers": 1}
            assert isinstance(request_id, str) and request_id
            assert any("no engine answered within 0.5 s" in n for n in notifications(app))
            app.start_flow("recycle", Selection(worker_id="host-1-w3"))
            await settle(app, pilot)
            await until(pilot, lambda: len(received) == 2)
            assert received[1] == {"cmd": "recycle", "worker_id": "host-1-w3"}
            assert "attached" in app.query_one("#bar").mode
    finally:
        await link.stop()
        await listener.close()
        await asyncio.sleep(0)


async def test_attached_console_shows_an_engines_refusal_to_scale(migrated, client):
    """The engine elsewhere refuses (over its memory budget): the person who pressed +
    sees a notification naming the engine and its reason."""
    from engine.runtime.engine import Engine, EngineOptions

    engine = Engine(  # a budget with no room for even one worker of 256 MiB
        migrated, EngineOptions(workers={}, memory_budget_mb=200, worker_max_memory_mb=256)
    )
    await engine.start()
    link = await AttachedLink.open(migrated, attach=True)
    link.watch.probe = healthy
    app = ConsoleApp(link, refresh_s=None)
    try:
        await client.submit("demo.noop", queue="mail")
        async with app.run_test(size=(100, 30)) as pilot:
            await app.refresh_now()
            await pilot.press("4")
            await settle(app, pilot)
            assert app.query_one("#worker-queues", KeyedTable).select_key("mail")
            await pilot.press("plus")
            await settle(app, pilot)
            shown = notifications(app)[-1]
            assert f"refused by 1 of 1 engine: {engine.supervisor.id}:" in shown
            assert "exceeds the memory budget of 200 MiB (room for 0 workers" in shown
            assert "mail" not in engine.supervisor.targets
    finally:
        await link.stop()
        await engine.stop()
        await asyncio.sleep(0)
