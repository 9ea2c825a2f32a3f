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
from queueconsole.console.app import ConsoleApp
from queueconsole.console.backend import Backend
from queueconsole.console.model import ServiceHealth

FIXED_NOW = datetime(2025, 1, 6, 12, 0, 30, tzinfo=UTC)


async def healthy() -> tuple[ServiceHealth, ...]:
    """Every service up, with fixed latencies (snapshot tests need stable text)."""
    return (
        ServiceHealth("PostgreSQL", True, 1.2),
        ServiceHealth("Redis", True, 0.4),
        ServiceHealth("RabbitMQ", True, 0.9),
    )


@dataclass
class FakeWorker:
    id: str
    queues: tuple[str, ...]
    host: str = "host-a"
    pid: int = 4242
    state: str = "idle"
    current_job_id: int | None = None
    heartbeat_at: datetime | None = FIXED_NOW
    rss_bytes: int = 96 * 1024 * 1024
    cpu_percent: float = 1.0
    max_memory_mb: int = 512
    jobs_done: int = 7
    jobs_failed: int = 1


@dataclass
class FakeSupervisor:
    """The supervisor interface the console uses, recording what it was told."""

    targets: dict[str, int] = field(default_factory=lambda: {"default": 2})
    recycled: list[str] = field(default_factory=list)
    budget_mb: int = 2048

    def scale(self, queue: str, workers: int) -> None:
        self.targets[queue] = workers

    def recycle(self, worker_id: str) -> None:
        self.recycled.append(worker_id)

    def snapshot(self) -> dict[str, Any]:
        workers = [
            FakeWorker(f"w-{queue}-{i + 1}", (queue,), pid=4000 + i)
            for queue, n in sorted(self.targets.items())
            for i in range(n)
        ]
        return {
            "workers": workers,
            "per_queue": dict(self.targets),
            "budget_mb": self.budget_mb,
            "used_mb": 96.0 * len(workers),
        }


@pytest.fixture
async def make_app(client: Client) -> AsyncIterator[Callable[..., ConsoleApp]]:
    """Build a console on the test database: no timer, frozen clock, fixed health.

    Every backend made is stopped afterwards (its status cache holds Redis
    connections); the test's client itself stays open for the fixture to close.
    """
    made: list[ConsoleApp] = []

    def make(
        *, read_only: bool = False, supervisor: Any = None, probe: Any = healthy, **kwargs: Any
    ) -> ConsoleApp:
        backend = Backend(client.settings, client, supervisor=supervisor, probe=probe)
        kwargs.setdefault("refresh_s", None)
        kwargs.setdefault("clock", lambda: FIXED_NOW)
        app = ConsoleApp(backend, read_only=read_only, **kwargs)
        made.append(app)
        return app

    yield make
    for app in made:
        await app.backend.stop()


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
