"""Build a Client whose commits reach the broker and the status cache.

Everything that submits or changes jobs outside a worker (the CLI, the
console, an application, the engine's services) goes through here, so a
submitted job is published right after its commit — no poll interval on the
path from submit to start.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from engine.broker.control import ControlBus
from engine.broker.publisher import Publisher
from engine.client import Client
from engine.config import Settings
from engine.db.database import Database
from engine.errors import EngineError
from engine.hooks import AfterCommit, Closable
from engine.store.changes import ChangeSet
from engine.worker.status_hooks import status_hooks

log = logging.getLogger(__name__)


class StopNotifier:
    """Tells workers at once to stop runs that were cancelled.

    Workers also find out on their next heartbeat (they check that each run is
    still theirs), so a lost control message only delays the stop by a second.
    """

    def __init__(self, settings: Settings) -> None:
        self._bus = ControlBus(settings)

    async def after_commit(self, changes: ChangeSet) -> None:
        """Send ``stop_job`` for every cancelled run."""
        for stop in changes.stops:
            try:
                await self._bus.publish(
                    {"cmd": "stop_job", "job_id": stop.job_id, "attempt": stop.attempt}
                )
            except EngineError as exc:
                log.warning("could not send stop for job %d: %s", stop.job_id, exc)
                return

    async def close(self) -> None:
        """Close the control connection."""
        await self._bus.close()


def make_hooks(settings: Settings) -> list[AfterCommit]:
    """The after-commit hooks of a full installation: publisher, status cache, stops."""
    return [Publisher(settings), *status_hooks(settings), StopNotifier(settings)]


async def close_hooks(hooks: list[AfterCommit]) -> None:
    """Close every hook that has something to close."""
    for hook in hooks:
        if isinstance(hook, Closable):
            with contextlib.suppress(Exception):
                await hook.close()


@contextlib.asynccontextmanager
async def open_client(
    settings: Settings, *, database: Database | None = None
) -> AsyncIterator[Client]:
    """A Client that publishes and caches after each commit; closed on exit.

    A submission's publish and status write follow its commit in the background
    (``background_hooks``): closing the client waits for them first, then the
    hooks' connections close.
    """
    hooks = make_hooks(settings)
    client = Client(settings, database=database, hooks=hooks, background_hooks=True)
    try:
        yield client
    finally:
        try:
            await client.close()
        finally:
            await close_hooks(hooks)
