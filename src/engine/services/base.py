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
from collections.abc import Sequence

from engine.errors import ServiceUnavailable

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
