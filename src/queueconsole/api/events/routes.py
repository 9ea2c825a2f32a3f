"""``GET /v1/events`` (Server-Sent Events) and ``WS /v1/ws``: the routes.

Both send every transition as a JSON object (see
:meth:`engine.snapshots.transitions.TransitionEvent.to_json`) in id order. SSE
frames carry the id (``id:``) so a browser's ``EventSource`` resumes by itself
with ``Last-Event-ID``; ``after=`` does the same for any client.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, WebSocket
from fastapi.responses import StreamingResponse
from starlette.websockets import WebSocketDisconnect

from queueconsole.api.events.filters import MAX_VALUES, EventFilter, token_tenant
from queueconsole.api.events.hub import EventHub, Item, StreamClosed, Subscription

KEEPALIVE_S = 15.0  # seconds of silence after which an SSE stream sends a comment line
BATCH = 500  # events written to a client at once at most
BIGINT_MAX = 2**63 - 1  # the largest id job_events can hold
WS_TRY_AGAIN_LATER = 1013  # WebSocket close code: slow client, come back and resume
WS_GOING_AWAY = 1001  # WebSocket close code: the server is shutting down

AuthenticateWebSocket = Callable[[WebSocket], Awaitable[bool]]

AfterQuery = Annotated[
    int | None,
    Query(ge=0, le=BIGINT_MAX, description="Send only events with a greater id (resume)."),
]
QueueQuery = Annotated[
    list[str], Query(max_length=MAX_VALUES, description="Only these queues (repeatable).")
]
JobQuery = Annotated[
    list[int], Query(max_length=MAX_VALUES, description="Only these job ids (repeatable).")
]
WorkflowQuery = Annotated[
    list[int], Query(max_length=MAX_VALUES, description="Only these workflows (repeatable).")
]

EVENT_EXAMPLE = (
    'id: 42\ndata: {"id":42,"job_id":7,"from":"queued","to":"running",'
    '"at":"2026-01-01T12:00:00.123456+00:00","reason":null,"queue":"default",'
    '"type":"demo.sleep","workflow_id":null,"attempt":1,"worker":"host:1234:default:0"}\n\n'
)


def hub_of(app: Any) -> EventHub:
    """The process's hub, put on ``app.state`` by ``event_feed_lifespan``."""
    hub = getattr(app.state, "event_hub", None)
    if not isinstance(hub, EventHub):
        raise HTTPException(503, "the event stream is not running on this server")
    return hub


def last_event_id(value: str | None) -> int | None:
    """The ``Last-Event-ID`` header as an id; a clear 422 for anything else."""
    if value is None or value == "":
        return None
    if not value.isdigit() or int(value) > BIGINT_MAX:
        raise HTTPException(
            422, f"Last-Event-ID must be an event id (0 to {BIGINT_MAX}), got {value[:40]!r}"
        )
    return int(value)


def events_router(
    read_dependency: Callable[..., Any] | None = None,
    authenticate_websocket: AuthenticateWebSocket | None = None,
) -> APIRouter:
    """The two routes, guarded by the app's checks (None: no check).

    Args:
        read_dependency: a FastAPI dependency run before ``GET /v1/events`` (the app's
            read-scope check; it may accept ``?token=`` since browsers' EventSource
            cannot send headers).
        authenticate_websocket: awaited with the socket before it is accepted; False
            means refused (the callable has closed the socket).
    """
    dependencies = [Depends(read_dependency)] if read_dependency is not None else []
    router = APIRouter(tags=["events"])

    @router.get(
        "/v1/events",
        dependencies=dependencies,
        response_class=StreamingResponse,
        summary="Follow every job transition (Server-Sent Events)",
        responses={
            200: {
                "description": "An endless `text/event-stream`: one `id:` + `data:` frame per "
                "transition, a `: keep-alive` comment after 15 s of silence, and "
                "`event: error` with a reason before the server ends the stream.",
                "content": {"text/event-stream": {"example": EVENT_EXAMPLE}},
            },
            422: {"description": "A bad `after`, `Last-Event-ID`, `job` or `workflow`."},
        },
    )
    async def sse_events(
        request: Request,
        after: AfterQuery = None,
        queue: QueueQuery = [],  # noqa: B006 (FastAPI copies defaults)
        job: JobQuery = [],  # noqa: B006
        workflow: WorkflowQuery = [],  # noqa: B006
        last_event_id_header: Annotated[
            str | None, Header(alias="Last-Event-ID", description="Resume after this id.")
        ] = None,
    ) -> StreamingResponse:
        """Every transition as it happens, from ``Last-Event-ID`` (else ``after``, else now):
        what happened while the client was away is read from PostgreSQL first."""
        hub = hub_of(request.app)
        resume = last_event_id(last_event_id_header)
        start = resume if resume is not None else after
        wanted = EventFilter.of(queue, job, workflow, token_tenant(request))
        if start is None:
            start = await _position(hub)
        return StreamingResponse(
            _sse(hub, start, wanted),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    @router.websocket("/v1/ws")
    async def ws_events(
        websocket: WebSocket,
        after: AfterQuery = None,
        queue: QueueQuery = [],  # noqa: B006
        job: JobQuery = [],  # noqa: B006
        workflow: WorkflowQuery = [],  # noqa: B006
    ) -> None:
        """Every transition as one text message each, from ``after`` (else now); closed with
        1013 when the client falls too far behind (resume with ``after``)."""
        if authenticate_websocket is not None and not await authenticate_websocket(websocket):
            return
        hub = hub_of(websocket.app)
        try:
            start = after if after is not None else await hub.position()
        except StreamClosed as why:
            await websocket.close(WS_GOING_AWAY, why.reason)
            return
        await websocket.accept()
        wanted = EventFilter.of(queue, job, workflow, token_tenant(websocket))
        await _ws(websocket, hub, start, wanted)

    return router


async def _sse(hub: EventHub, after: int | None, wanted: EventFilter) -> AsyncIterator[str]:
    try:
        async with hub.subscribe(after, wanted) as sub:
            yield ": connected\n\n"  # headers and a first byte now, not at the first event
            while True:
                items = await sub.next_batch(KEEPALIVE_S, BATCH)
                yield "".join(_frame(i) for i in items) if items else ": keep-alive\n\n"
    except StreamClosed as why:
        yield f"event: error\ndata: {_reason(why)}\n\n"


async def _position(hub: EventHub) -> int:
    try:
        return await hub.position()
    except StreamClosed as why:
        raise HTTPException(503, why.reason) from None


def _frame(item: Item) -> str:
    return f"id: {item.event.id}\ndata: {item.text}\n\n"


def _reason(why: StreamClosed) -> str:
    return json.dumps({"reason": why.reason, "slow": why.slow})


async def _ws(websocket: WebSocket, hub: EventHub, after: int | None, wanted: EventFilter) -> None:
    left = False
    try:
        async with hub.subscribe(after, wanted) as sub:
            listener = asyncio.create_task(_until_client_leaves(websocket, sub))
            try:
                while True:
                    for item in await sub.next_batch(KEEPALIVE_S, BATCH):
                        await websocket.send_text(item.text)
            finally:
                left = listener.done()
                listener.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await listener
    except StreamClosed as why:
        if not left:
            code = WS_TRY_AGAIN_LATER if why.slow else WS_GOING_AWAY
            with contextlib.suppress(Exception):
                await websocket.close(code, why.reason[:120])
    except (WebSocketDisconnect, OSError):
        pass  # the client went away while we were sending


async def _until_client_leaves(websocket: WebSocket, sub: Subscription) -> None:
    """Read (and ignore) what the client sends; when it disconnects, end its stream at
    once rather than at the next event or keep-alive."""
    with contextlib.suppress(Exception):
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
    sub.end(StreamClosed("client left"))
