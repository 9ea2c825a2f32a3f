"""Fixtures for the status cache: a namespace of its own per test, on shared or private Redis."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator

import pytest
import redis.asyncio as aioredis

from engine.client import Client
from engine.config import Settings
from engine.db.database import Database
from engine.status.cache import StatusCache
from tests.support.services import PrivateRedis, private_redis


async def drop_namespace(settings: Settings) -> None:
    """Delete every key of the settings' namespace (never anything else)."""
    client = aioredis.Redis.from_url(settings.redis_url)
    try:
        async for key in client.scan_iter(match=f"{settings.namespace}:*", count=1000):
            await client.delete(key)
    finally:
        await client.aclose()


@pytest.fixture
async def cache_settings(migrated: Settings) -> AsyncIterator[Settings]:
    """The run's settings with a namespace of this test's own on the shared Redis."""
    settings = migrated.evolve(namespace=f"{migrated.namespace}-{secrets.token_hex(3)}")
    yield settings
    await drop_namespace(settings)


@pytest.fixture
async def cache(cache_settings: Settings) -> AsyncIterator[StatusCache]:
    """A status cache whose breaker retries at once (tests must not wait)."""
    c = StatusCache(cache_settings, retry_after_s=0)
    yield c
    await c.close()


@pytest.fixture
async def cached_client(cache_settings: Settings, db: Database, cache: StatusCache):
    """A client that writes the status cache after every commit."""
    async with Client(cache_settings, database=db, hooks=[cache]) as c:
        yield c


@pytest.fixture
def redis_server() -> Iterator[PrivateRedis]:
    """A private Redis that a test may stop, flush and restart."""
    with private_redis() as server:
        yield server
