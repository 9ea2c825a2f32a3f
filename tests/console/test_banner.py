"""A service that stops answering is shown as down; the console stays usable and recovers."""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit

from engine.client import Client
from queueconsole.console.link import AttachedLink
from queueconsole.console.screens.help import HelpScreen
from queueconsole.console.widgets.banner import DownBanner
from tests.console.conftest import screen_text, settle, until
from tests.support.services import free_port


class Forwarder:
    """A TCP port that forwards to PostgreSQL while on, and refuses connections while off."""

    def __init__(self, target_host: str, target_port: int, *, black_hole: bool = False) -> None:
        self.port = free_port()
        self.target = (target_host, target_port)
        self.black_hole = black_hole
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self._writers: list[asyncio.StreamWriter] = []

    async def on(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def off(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for w in self._writers:
            w.close()
            with contextlib.suppress(Exception):
                await w.wait_closed()
        for t in self._pipes:
            t.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)
        self._pipes.clear()
        self._writers.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        if self.black_hole:
            return  # accept, never answer: a hung server
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self._writers.append(up_writer)
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(src, dst))
            self._pipes.add(task)

    @staticmethod
    async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
        with contextlib.suppress(Exception):
            dst.close()


def via(settings, port: int):
    parts = urlsplit(settings.database_url)
    netloc = parts.netloc.replace(f"{parts.hostname}:{parts.port or 5432}", f"127.0.0.1:{port}")
    if netloc == parts.netloc:
        netloc = parts.netloc.replace(str(parts.hostname), f"127.0.0.1:{port}")
    return settings.evolve(database_url=parts._replace(netloc=netloc).geturl())


def pg_target(settings) -> tuple[str, int]:
    parts = urlsplit(settings.database_url)
    return parts.hostname or "127.0.0.1", parts.port or 5432


async def test_down_banner_appears_and_goes_away(client, make_app):
    await client.submit("demo.noop", queue="mail")
    forwarder = Forwarder(*pg_target(client.settings))
    settings = via(client.settings, forwarder.port)
    proxied = Client(settings)
    app = make_app(probe=None)
    app.link = AttachedLink(settings, proxied)
    app.source.link = app.link
    app.actions.link = app.link
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await app.refresh_now()
            await pilot.pause()
            banner = app.query_one(DownBanner)
            assert banner.display
            text = screen_text(app)
            assert "DOWN PostgreSQL" in text
            assert f"127.0.0.1:{forwarder.port}" in text
            # Still usable: panes switch, help opens and closes.
            await pilot.press("2", "question_mark")
            assert isinstance(app.screen, HelpScreen)
            await pilot.press("escape", "1")
            await forwarder.on()
            await app.refresh_now()
            await pilot.pause()
            assert not banner.display
            assert "mail" in screen_text(app)
    finally:
        await app.link.stop()
        await forwarder.off()
        await proxied.close()


async def test_a_hung_server_counts_as_down(client, make_app):
    forwarder = Forwarder(*pg_target(client.settings), black_hole=True)
    await forwarder.on()
    settings = via(client.settings, forwarder.port)
    proxied = Client(settings)
    app = make_app(probe=None)
    app.link = AttachedLink(settings, proxied)
    app.source.link = app.link
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await app.refresh_now()
            await pilot.pause()
            assert "DOWN PostgreSQL" in screen_text(app)
            assert "answer within" in screen_text(app)
    finally:
        await app.link.stop()
        await forwarder.off()
        await proxied.close()


async def test_the_refresh_timer_finds_the_outage_by_itself(client, make_app):
    forwarder = Forwarder(*pg_target(client.settings))
    settings = via(client.settings, forwarder.port)
    proxied = Client(settings)
    app = make_app(probe=None, refresh_s=0.1)
    app.link = AttachedLink(settings, proxied)
    app.source.link = app.link
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            banner = app.query_one(DownBanner)
            await until(pilot, lambda: bool(banner.down))
            await forwarder.on()
            await until(pilot, lambda: not banner.down)
            await settle(app, pilot)
    finally:
        await app.link.stop()
        await forwarder.off()
        await proxied.close()
