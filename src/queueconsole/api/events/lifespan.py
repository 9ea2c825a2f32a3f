"""Starting and stopping the process's one event reader with the app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from engine.config import Settings
from queueconsole.api.events.hub import IDLE_AFTER_S, MAX_BEHIND, EventHub


@asynccontextmanager
async def event_feed_lifespan(
    app: FastAPI,
    settings: Settings,
    *,
    max_behind: int = MAX_BEHIND,
    idle_after_s: float = IDLE_AFTER_S,
) -> AsyncIterator[EventHub]:
    """Put an :class:`EventHub` on ``app.state.event_hub`` for the app's lifetime.

    The hub opens nothing until the first client connects (and closes its reads again
    when the last one has gone), so an API that nobody streams from costs nothing.
    On exit every open stream is ended (SSE ``event: error``, WebSocket 1001).
    """
    hub = EventHub(settings, max_behind=max_behind, idle_after_s=idle_after_s)
    app.state.event_hub = hub
    try:
        yield hub
    finally:
        await hub.close()
        del app.state.event_hub
