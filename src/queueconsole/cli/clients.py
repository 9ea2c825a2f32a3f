"""The client a one-shot write command (``submit``, ``cancel``, ``retry``) holds.

A shell's ``queueconsole submit`` is mostly start-up. :func:`open_client` on the
engine's default :class:`~engine.db.database.Database` creates SQLAlchemy's async
engine, and the asyncio extension imports the whole ORM: about a sixth of the
command's wall time, for one transaction. These commands only call the client's
write methods, which run on ``run`` with the store's
:class:`~engine.db.connection.Connection` protocol, so they take asyncpg's own
pool (:class:`~engine.db.driver.DriverDatabase`, what the workers use) instead.
Commands that read (``job``, ``jobs``, ``status``) keep the default: the read API
is written against SQLAlchemy's connection.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, cast

from engine.config import Settings

if TYPE_CHECKING:
    from engine.client import Client
    from engine.db.database import Database

CLI_POOL_SIZE = 1  # connections: one command, one transaction at a time
CLI_APPLICATION_NAME = "queueconsole-cli"  # what pg_stat_activity shows for it


@contextlib.asynccontextmanager
async def writing_client(settings: Settings) -> AsyncIterator[Client]:
    """:func:`~engine.runtime.wiring.open_client` (publisher, status cache, stops) on
    asyncpg's pool; every hook and the pool are closed on exit.

    Only the client's write methods may be called on it: the read methods need
    SQLAlchemy's connection, which this pool does not hand out.
    """
    from engine.db.driver import DriverDatabase
    from engine.runtime.wiring import open_client

    db = DriverDatabase(settings, pool_size=CLI_POOL_SIZE, application_name=CLI_APPLICATION_NAME)
    try:
        # Client types its pool as Database; its write path needs only `run`, which
        # DriverDatabase has with the same contract (engine.db.connection.DatabaseHandle).
        async with open_client(settings, database=cast("Database", db)) as client:
            yield client
    finally:
        await db.close()
