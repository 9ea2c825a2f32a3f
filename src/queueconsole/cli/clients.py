"""The client a one-shot write command (``submit``, ``cancel``, ``retry``) holds.

A shell's ``queueconsole submit`` is mostly start-up, so what it imports matters.
:func:`~engine.runtime.wiring.open_client` costs little until it is used: a plain
submit goes through the client's own asyncpg pool (group commit, one statement),
and SQLAlchemy's async engine, whose asyncio extension imports the whole ORM, is
created only when a command needs a SQLAlchemy transaction (a keyed or dependent
submit, a cancel, a retry). ``tests/cli/test_cli_startup.py`` names any module the
submit path starts loading again.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from engine.config import Settings

if TYPE_CHECKING:
    from engine.client import Client


@contextlib.asynccontextmanager
async def writing_client(settings: Settings) -> AsyncIterator[Client]:
    """:func:`~engine.runtime.wiring.open_client` (publisher, status cache, stops),
    imported only when a write command runs; every hook and pool is closed on exit."""
    from engine.runtime.wiring import open_client

    async with open_client(settings) as client:
        yield client
