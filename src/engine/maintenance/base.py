"""A periodic service: one small job done again and again, never twice at once.

Each service's :meth:`PeriodicService.tick` does one bounded batch of work in
short transactions and says how long to wait before the next one (shorter
when there is more to do). A tick that fails because a service is down is
logged once per outage and retried after a back-off; the engine keeps going.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence

from engine.config import Settings
from engine.db.connection import Connection, DatabaseHandle
from engine.errors import ServiceUnavailable
from engine.hooks import AfterCommit

log = logging.getLogger(__name__)


class PeriodicService(ABC):
    """Subclass and implement :meth:`tick`."""

    name: str = "service"
    error_backoff_s: float = 2.0

    def __init__(self) -> None:
        self._wake = asyncio.Event()
        self.ticks = 0
        self.last_error: str | None = None

    @abstractmethod
    async def tick(self) -> float:
        """Do one batch of work; return seconds to wait before the next tick."""

    def wake(self) -> None:
        """Run the next tick now instead of after the wait (e.g. new work arrived)."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Tick until ``stop`` is set."""
        while not stop.is_set():
            try:
                delay = await self.tick()
                self.ticks += 1
                if self.last_error is not None:
                    log.info("%s recovered", self.name)
                    self.last_error = None
            except asyncio.CancelledError:
                raise
            except ServiceUnavailable as exc:
                if self.last_error != str(exc):
                    log.warning("%s: %s", self.name, exc)
                self.last_error = str(exc)
                delay = self.error_backoff_s
            except Exception as exc:  # a bug in one tick must not stop the engine
                log.exception("%s tick failed", self.name)
                self.last_error = f"{type(exc).__name__}: {exc}"
                delay = self.error_backoff_s
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(delay, 0.0)):
                    stop_task = asyncio.ensure_future(stop.wait())
                    wake_task = asyncio.ensure_future(self._wake.wait())
                    try:
                        await asyncio.wait(
                            {stop_task, wake_task}, return_when=asyncio.FIRST_COMPLETED
                        )
                    finally:
                        stop_task.cancel()
                        wake_task.cancel()


class DueWorkService(PeriodicService):
    """A service that does work falling due on the database clock, a batch per tick.

    After a full batch it goes again at once; otherwise it sleeps until the next
    item is due, between :attr:`poll_min_s` and ``poll_max_s`` (the longest an item
    added by another process waits to be noticed).

    Args:
        settings: the installation (unused today; every engine service takes it first).
        db: the engine's database (the engine gives its services asyncpg's own pool:
            :class:`~engine.db.driver.DriverDatabase`).
        hooks: after-commit hooks (publisher, status cache) for what a batch changed.
        batch: items handled per transaction.
        poll_max_s: the longest wait between rounds.
    """

    poll_min_s: float = 0.05  # seconds; never spin faster than this on work not yet due

    def __init__(
        self,
        settings: Settings,
        db: DatabaseHandle,
        hooks: Sequence[AfterCommit] = (),
        *,
        batch: int,
        poll_max_s: float,
    ) -> None:
        super().__init__()
        if batch < 1:
            raise ValueError("batch must be at least 1")
        if poll_max_s <= 0:
            raise ValueError("poll_max_s must be positive")
        self.settings = settings
        self.db = db
        self.hooks = list(hooks)
        self.batch = batch
        self.poll_max_s = poll_max_s

    async def wait_after(
        self, done: int, due_in: Callable[[Connection], Awaitable[float | None]]
    ) -> float:
        """Seconds until the next tick, after a round that handled ``done`` items;
        ``due_in`` asks the database when the next item falls due (None: nothing)."""
        if done >= self.batch:
            return 0.0  # more may be due right now
        due = await self.db.run_single(due_in)
        if due is None:
            return self.poll_max_s
        return min(max(due, self.poll_min_s), self.poll_max_s)


class ServiceGroup:
    """Runs several periodic services until stopped; stopping waits for each to finish."""

    def __init__(self, services: Sequence[PeriodicService]) -> None:
        self.services = list(services)
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """Start every service as a task on the running loop."""
        self._stop.clear()
        self._tasks = [
            asyncio.create_task(s.run(self._stop), name=f"service:{s.name}") for s in self.services
        ]

    async def stop(self) -> None:
        """Ask every service to stop after its current tick, and wait for them."""
        self._stop.set()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
