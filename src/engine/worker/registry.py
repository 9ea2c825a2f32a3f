"""Job types: a handler registered under a name, looked up by that name only.

A job's ``type`` selects a handler from this registry and nothing else: it is
never an import path, so a payload cannot make a worker load or call code the
operator did not register. Modules that register handlers are listed in
``Settings.job_modules`` and imported when a worker starts; nothing else is.
The built-in ``demo.*`` types (:data:`DEMO_JOB_MODULE`) are one such module,
listed by the demo and the tests, so a production worker does not know them.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from engine.errors import ConfigError

if TYPE_CHECKING:
    from engine.client import Client
    from engine.config import Settings

Handler = Callable[["JobContext"], Any] | Callable[["JobContext"], Awaitable[Any]]

LOG_LEVELS = ("debug", "info", "warning", "error")
MAX_LOG_LINES = 1000
MAX_LOG_LINE = 8000

DEMO_JOB_MODULE = "engine.worker.demo_jobs"
"""The job module of the built-in ``demo.*`` types: registered only by workers whose
``job_modules`` list it (see :func:`with_demo_jobs`)."""


class JobInterrupted(BaseException):
    """Raised inside a handler's thread to stop it (timeout or cancellation).

    A BaseException so that a handler's ``except Exception`` does not swallow it.
    """


@dataclass(frozen=True, slots=True)
class JobType:
    """A registered handler and how to run it."""

    name: str
    handler: Handler
    is_async: bool


@dataclass
class JobContext:
    """What a handler gets: its job, its payload, a log, and the engine's client.

    ``log_*`` lines land in ``job_logs`` with the attempt number when the run is
    recorded. ``client`` lets a handler submit more work (``demo.workflow``).
    """

    job_id: int
    attempt: int
    type: str
    queue: str
    payload: Mapping[str, Any]
    timeout_s: float | None
    client: Client | None = None
    loop: asyncio.AbstractEventLoop | None = None
    logs: list[tuple[datetime, str, str]] = field(default_factory=list)
    stop_requested: threading.Event = field(default_factory=threading.Event)

    def log(self, message: str, level: str = "info") -> None:
        """Record a line for this attempt (kept bounded: the first 1,000 lines)."""
        if level not in LOG_LEVELS:
            level = "info"
        if len(self.logs) < MAX_LOG_LINES:
            self.logs.append((datetime.now(UTC), level, str(message)[:MAX_LOG_LINE]))

    def info(self, message: str) -> None:
        """Log at info level."""
        self.log(message, "info")

    def warning(self, message: str) -> None:
        """Log at warning level."""
        self.log(message, "warning")

    def error(self, message: str) -> None:
        """Log at error level."""
        self.log(message, "error")

    def should_stop(self) -> bool:
        """True once the run was cancelled or timed out; long loops should check it."""
        return self.stop_requested.is_set()


class Registry:
    """Name -> handler. One process-wide instance, :data:`registry`."""

    def __init__(self) -> None:
        self._types: dict[str, JobType] = {}

    def register(self, name: str, handler: Handler) -> None:
        """Register ``handler`` under ``name``; registering another under a taken name fails."""
        existing = self._types.get(name)
        if existing is not None and existing.handler is not handler:
            raise ConfigError(f"job type {name!r} is already registered by {existing.handler!r}")
        self._types[name] = JobType(name, handler, inspect.iscoroutinefunction(handler))

    def get(self, name: str) -> JobType | None:
        """The handler for a type name, or None when this worker does not know it."""
        return self._types.get(name)

    def names(self) -> list[str]:
        """Every registered type name, sorted."""
        return sorted(self._types)

    def __contains__(self, name: object) -> bool:
        return name in self._types


registry = Registry()


def job(name: str, *, into: Registry | None = None) -> Callable[[Handler], Handler]:
    """Register the decorated function as the handler of job type ``name``.

    The handler takes a :class:`JobContext` and returns a JSON-serializable
    result (or None). Plain functions run in the worker's job thread, where a
    timeout or cancel interrupts them; ``async def`` handlers run on the
    worker's event loop and are cancelled.
    """

    def decorate(handler: Handler) -> Handler:
        (into or registry).register(name, handler)
        return handler

    return decorate


_import_lock = threading.Lock()


def load_modules(modules: tuple[str, ...] | list[str]) -> None:
    """Import the configured job modules so their ``@job`` handlers register."""
    with _import_lock:
        for module in modules:
            try:
                importlib.import_module(module)
            except ImportError as exc:
                raise ConfigError(f"job module {module!r} cannot be imported: {exc}") from exc


def with_demo_jobs(settings: Settings) -> Settings:
    """``settings`` whose workers also register the ``demo.*`` types (the demo, the tests).

    Workers are child processes that load their settings from the environment, so the
    module has to travel in ``job_modules``: registering in this process would not
    reach them.
    """
    if DEMO_JOB_MODULE in settings.job_modules:
        return settings
    return settings.evolve(job_modules=(*settings.job_modules, DEMO_JOB_MODULE))
