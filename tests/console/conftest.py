"""Console fixtures: the app on the real database, fixed health and a fake supervisor.

The supervisor stands in only for the runtime's supervisor interface
(scale, recycle, snapshot); every job action goes to the real engine and
database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from engine.client import Client
from engine.snapshots import ServiceHealth, SupervisorSnapshot, Worker
from queueconsole.console.app import ConsoleApp
from queueconsole.console.link import AttachedLink

FIXED_NOW = datetime(2025, 1, 6, 12, 0, 30, tzinfo=UTC)


async def healthy() -> tuple[ServiceHealth, ...]:
    """Every service up, with fixed latencies (snapshot tests need stable text)."""
    return (
        ServiceHealth("postgresql", True, "", 1.2),
        ServiceHealth("redis", True, "", 0.4),
        ServiceHealth("rabbitmq", True, "", 0.9),
    )


@dataclass
class FakeSupervisor:
    """The supervisor interface the console uses, recording what it was told."""

    targets: dict[str, int] = field(default_factory=lambda: {"default": 2})
    recycled: list[str] = field(default_factory=list)
    budget_mb: int = 2048

    async def scale(self, queue: str, workers: int) -> int:
        self.targets[queue] = workers
        return workers

    async def recycle(self, worker_id: str) -> bool:
        self.recycled.append(worker_id)
        return True

    def snapshot(self) -> SupervisorSnapshot:
        workers = tuple(
            Worker(
                f"w-{queue}-{i + 1}",
                "host-a",
                4000 + i,
                (queue,),
                "idle",
                heartbeat_at=FIXED_NOW,
                rss_bytes=96 * 1024 * 1024,
                cpu_percent=1.0,
                max_memory_mb=512,
                cpus=2.0,
                cpu_requested=0.5,
                memory_requested_mb=128,
                jobs_done=7,
                jobs_failed=1,
                local=True,
            )
            for queue, n in sorted(self.targets.items())
            for i in range(n)
        )
        return SupervisorSnapshot(
            supervisor_id="host-a-1",
            host="host-a",
            targets=dict(self.targets),
            workers=workers,
            memory_budget_mb=self.budget_mb,
            memory_per_worker_mb=96,
            memory_reserved_mb=96 * len(workers),
        )


@pytest.fixture
async def make_app(client: Client) -> AsyncIterator[Callable[..., ConsoleApp]]:
    """Build a console on the test database: no timer, frozen clock, fixed health.

    Every link made is stopped afterwards (its status cache holds Redis
    connections); the test's client itself stays open for the fixture to close.
    """
    made: list[ConsoleApp] = []

    def make(
        *, read_only: bool = False, supervisor: Any = None, probe: Any = healthy, **kwargs: Any
    ) -> ConsoleApp:
        link = AttachedLink(client.settings, client, supervisor=supervisor, probe=probe)
        kwargs.setdefault("refresh_s", None)
        kwargs.setdefault("clock", lambda: FIXED_NOW)
        app = ConsoleApp(link, read_only=read_only, **kwargs)
        made.append(app)
        return app

    yield make
    for app in made:
        await app.link.stop()


def screen_text(app: ConsoleApp) -> str:
    """What the terminal shows, as plain text (no styles)."""
    from io import StringIO

    from rich.console import Console

    width, height = app.size
    console = Console(
        width=width,
        height=height,
        file=StringIO(),
        record=True,
        color_system=None,
        legacy_windows=False,
        force_terminal=False,
    )
    console.print(app.screen._compositor.render_update(full=True))
    return console.export_text()


async def until(pilot: Any, condition: Callable[[], bool], *, tries: int = 400) -> None:
    """Let the app run until ``condition`` holds (a bounded wait, not a timed assertion)."""
    for _ in range(tries):
        if condition():
            return
        await pilot.pause(0.02)
    raise AssertionError("the console never reached the expected state")


async def settle(app: ConsoleApp, pilot: Any) -> None:
    """Wait for every worker the app started (refreshes, flows) and for the redraw."""
    await app.workers.wait_for_complete()
    await pilot.pause()


def notifications(app: ConsoleApp) -> list[str]:
    """The text of every notification shown so far."""
    return [n.message for n in app._notifications]
