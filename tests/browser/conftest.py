"""``queueconsole serve``'s server on a free loopback port, in the test's loop, on the
run's services; a token of each scope; and a headless Chromium when one is installed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from engine.client import Client
from engine.config import Settings
from queueconsole.api.tokens import TokenCache
from queueconsole.browser.access import Gate
from queueconsole.browser.server import ConsoleServer
from tests.support.chromium import Page, browser, chromium_binary
from tests.support.services import CI


@asynccontextmanager
async def serving(
    settings: Settings,
    client: Client,
    *,
    no_auth: bool = False,
    read_only: bool = False,
    max_consoles: int = 2,
) -> AsyncIterator[ConsoleServer]:
    """The browser console server until the block ends (its consoles closed first)."""
    gate = Gate(None if no_auth else TokenCache(client.use_token), read_only=read_only)
    server = ConsoleServer(
        settings, config_file=None, gate=gate, host="127.0.0.1", port=0, max_consoles=max_consoles
    )
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def server(migrated: Settings, client: Client) -> AsyncIterator[ConsoleServer]:
    async with serving(migrated, client) as s:
        yield s


@pytest.fixture
async def page() -> AsyncIterator[Page]:
    """A tab in a fresh headless Chromium (skipped without one, except in CI)."""
    if chromium_binary() is None:
        if CI:
            pytest.fail("chromium is not installed: ./dev setup installs it")
        pytest.skip("chromium is not installed (./dev setup installs it)")
    async with browser() as tab:
        yield tab
