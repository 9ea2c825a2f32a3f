"""A real API server on loopback (uvicorn in this process, in the test's loop) on the
run's services, an httpx client for it, and a token of each scope."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import httpx
import pytest
from sqlalchemy import text

from engine.config import Settings
from engine.db.database import Database
from queueconsole.api.app import create_app
from queueconsole.api.server import ApiServer


@asynccontextmanager
async def serving(settings: Settings, **options) -> AsyncIterator[ApiServer]:
    """The app on a free loopback port until the block ends."""
    server = ApiServer(create_app(settings, **options), host="127.0.0.1", port=0)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def server(migrated: Settings, db: Database) -> AsyncIterator[ApiServer]:
    async with serving(migrated) as s:
        yield s


@pytest.fixture
def http(
    server: ApiServer, tokens: dict[str, str]
) -> Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]:
    """``async with http("operate") as c``: a client sending that scope's token (None: none)."""

    @asynccontextmanager
    async def make(scope: str | None = "operate") -> AsyncIterator[httpx.AsyncClient]:
        headers = {"Authorization": f"Bearer {tokens[scope]}"} if scope else {}
        async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30) as c:
            yield c

    return make


async def count_rows(db: Database, table: str) -> int:
    async with db.connection() as conn:
        return int((await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())
