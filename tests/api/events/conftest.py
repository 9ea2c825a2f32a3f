"""A real uvicorn server on loopback serving only the event stream, in this process."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI

from engine.config import Settings
from queueconsole.api.events import EventHub, event_feed_lifespan, events_router


@dataclass
class EventServer:
    """A running server: its base URL and the hub behind it."""

    url: str
    ws_url: str
    app: FastAPI

    @property
    def hub(self) -> EventHub:
        hub = self.app.state.event_hub
        assert isinstance(hub, EventHub)
        return hub


@contextlib.asynccontextmanager
async def serve_events(
    settings: Settings, *, send_buffer: int | None = None, **hub_options: Any
) -> AsyncIterator[EventServer]:
    """The event routes with no auth, on 127.0.0.1 and a free port, until the block exits.

    ``send_buffer`` caps the kernel's send buffer of every connection (accepted
    sockets inherit it from the listening one), so a client that stops reading
    holds the server's writes back after kilobytes rather than megabytes.
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with event_feed_lifespan(app, settings, **hub_options):
            yield

    app = FastAPI(lifespan=lifespan)
    app.include_router(events_router())
    listener = socket.socket()
    if send_buffer is not None:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer)
    listener.bind(("127.0.0.1", 0))
    port = int(listener.getsockname()[1])
    # log_config=None: uvicorn's default logging config would stop its loggers from
    # propagating, and later tests that read the access log through caplog would see nothing.
    config = uvicorn.Config(app, log_level="warning", log_config=None, ws="websockets-sansio")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[listener]))
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("uvicorn stopped before it started")
        await asyncio.sleep(0.01)
    try:
        yield EventServer(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}", app)
    finally:
        await app.state.event_hub.close()  # streams never end by themselves
        server.should_exit = True
        await task
        listener.close()


@pytest.fixture
def event_server() -> Callable[..., AbstractAsyncContextManager[EventServer]]:
    """``async with event_server(settings, max_behind=…) as server:``."""
    return serve_events
