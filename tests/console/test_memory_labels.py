"""Memory labels say what they measure: reserved (the budget's count) vs resident (RSS),
"no budget" when none is set, and an attached console shows the engine's own budget."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace

from engine.runtime.engine import Engine, EngineOptions
from engine.snapshots import SupervisorSnapshot
from queueconsole.console.app import ConsoleApp
from queueconsole.console.link import AttachedLink
from tests.console.conftest import FakeSupervisor, healthy, screen_text, settle, until

MB = 1024 * 1024


@dataclass
class LeanSupervisor(FakeSupervisor):
    """Workers that reserve 96 MiB each but hold only 40 MiB resident."""

    def snapshot(self) -> SupervisorSnapshot:
        snap = super().snapshot()
        return replace(snap, workers=tuple(replace(w, rss_bytes=40 * MB) for w in snap.workers))


async def shown_on(app, pilot, key: str) -> str:
    await app.refresh_now()
    await pilot.press(key)
    await settle(app, pilot)
    return screen_text(app)


async def test_overview_and_workers_name_reserved_and_resident_memory(client, make_app):
    await client.submit("demo.noop")
    app = make_app(supervisor=LeanSupervisor(targets={"default": 3}, budget_mb=1024))
    async with app.run_test(size=(120, 30)) as pilot:
        overview = await shown_on(app, pilot, "1")
        assert "reserved 288M of 1,024M budget · resident 120M" in overview
        workers = await shown_on(app, pilot, "4")
        assert "memory reserved 288M of 1,024M budget · resident 120M · 3 workers" in workers


async def test_no_budget_is_written_as_such(client, make_app):
    await client.submit("demo.noop")
    app = make_app(supervisor=LeanSupervisor(targets={"default": 2}, budget_mb=None))
    async with app.run_test(size=(120, 30)) as pilot:
        assert "reserved 192M · no budget · resident 80M" in await shown_on(app, pilot, "1")
        assert "reserved 192M · no budget" in await shown_on(app, pilot, "4")


async def test_an_attached_console_shows_the_engines_budget(migrated, client):
    engine = Engine(migrated, EngineOptions(workers={}, memory_budget_mb=600))
    await engine.start()
    link = await AttachedLink.open(migrated, attach=True)
    link.watch.probe = healthy
    app = ConsoleApp(link, refresh_s=None)
    try:
        await client.submit("demo.noop")
        async with app.run_test(size=(120, 30)) as pilot:
            await pilot.press("4")

            async def budget_shown() -> bool:
                await app.refresh_now()
                await settle(app, pilot)
                return "of 600M budget" in screen_text(app)

            for _ in range(200):  # the engine answers over the broker, in the background
                if await budget_shown():
                    break
                await pilot.pause(0.05)
            text = screen_text(app)
            assert "memory reserved 0M of 600M budget" in text
            assert "budget unknown" not in text
    finally:
        await link.stop()
        await engine.stop()
        await asyncio.sleep(0)


async def test_an_attached_console_with_no_engine_says_the_budget_is_unknown(migrated, client):
    link = await AttachedLink.open(migrated, attach=True)
    link.watch.probe = healthy
    app = ConsoleApp(link, refresh_s=None)
    try:
        await client.submit("demo.noop")
        async with app.run_test(size=(120, 30)) as pilot:
            await app.refresh_now()
            await pilot.press("1")
            await settle(app, pilot)
            await until(pilot, lambda: link._asking is not None and link._asking.done())
            await app.refresh_now()
            await settle(app, pilot)
            text = screen_text(app)
            assert "budget unknown (no engine reported it)" in text
            assert "no budget" not in text  # unknown is not the same as none set
    finally:
        await link.stop()
        await asyncio.sleep(0)
