"""The live event stream: ``GET /v1/events`` (SSE) and ``WS /v1/ws``.

Every job transition, as it happens, as ``{id, job_id, from, to, at, reason, queue,
type, workflow_id, attempt, worker}``; ``id`` is the transition's ``job_events`` id
and the client's cursor. PostgreSQL is the truth (a client that comes back with
``Last-Event-ID`` or ``after=`` gets what it missed from ``job_events``, then the
live flow, without gap or repeat); the status cache's Redis channel only wakes the
reader early, so with Redis down events still come, on the next poll.

How an app mounts it (the seam with ``queueconsole.api.app``)::

    from queueconsole.api.auth import Scope, authenticate_websocket, require
    from queueconsole.api.events import event_feed_lifespan, events_router

    app.include_router(
        events_router(
            require(Scope.READ, allow_query_token=True),      # read_dependency
            lambda ws: authenticate_websocket(ws, Scope.READ),  # authenticate_websocket
        )
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with event_feed_lifespan(app, settings):  # app.state.event_hub
            yield

``events_router(read_dependency=None, authenticate_websocket=None)``: both are
optional, None meaning no check. ``read_dependency`` is any FastAPI dependency,
run before the SSE route; ``authenticate_websocket(ws) -> Awaitable[bool]`` is
awaited before the socket is accepted and, when it answers False, must have
closed it (1008). ``event_feed_lifespan(app, settings)`` puts the process's one
:class:`~queueconsole.api.events.hub.EventHub` on ``app.state.event_hub`` and
ends every stream on exit.

Shutting down: uvicorn waits for open responses before it runs the lifespan's
exit, and an event stream never ends by itself. A server that stops should call
``await app.state.event_hub.close()`` first (it ends every stream at once), or
give uvicorn a ``timeout_graceful_shutdown``.
"""

from queueconsole.api.events.hub import EventHub
from queueconsole.api.events.lifespan import event_feed_lifespan
from queueconsole.api.events.routes import events_router

__all__ = ["EventHub", "event_feed_lifespan", "events_router"]
