"""Small clients of the stream for the tests: an SSE reader and a WebSocket reader."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import websockets

from tests.support.runtime import LIVENESS_S


@dataclass
class Frame:
    """One SSE frame: its ``event`` (``message`` unless named), ``id`` and decoded data."""

    event: str = "message"
    id: str | None = None
    data: Any = None
    comments: list[str] = field(default_factory=list)


async def frames(response: httpx.Response) -> AsyncIterator[Frame]:
    """Parse a ``text/event-stream`` body into frames (comments come attached to the
    next frame, or alone in a frame with no data)."""
    frame = Frame()
    data: list[str] = []
    async for line in response.aiter_lines():
        if line == "":
            if data or frame.comments:
                frame.data = json.loads("\n".join(data)) if data else None
                yield frame
            frame, data = Frame(), []
        elif line.startswith(":"):
            frame.comments.append(line[1:].strip())
        else:
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "data":
                data.append(value)
            elif name == "id":
                frame.id = value
            elif name == "event":
                frame.event = value


@asynccontextmanager
async def sse(
    base_url: str, *, params: Any = None, headers: dict[str, str] | None = None
) -> AsyncIterator[AsyncIterator[Frame]]:
    """An open ``GET /v1/events`` stream's frames."""
    async with (
        httpx.AsyncClient(base_url=base_url, timeout=httpx.Timeout(LIVENESS_S)) as client,
        client.stream("GET", "/v1/events", params=params, headers=headers) as response,
    ):
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        yield frames(response)


async def collect_sse(
    stream: AsyncIterator[Frame], until: Callable[[list[dict[str, Any]]], bool]
) -> list[dict[str, Any]]:
    """Events (data of ``message`` frames) until ``until(events)`` holds; checks each
    frame's ``id:`` is the event's id. Bounded by LIVENESS_S (a hang bound)."""
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + LIVENESS_S
    while not until(events):
        assert time.monotonic() < deadline, f"stream stalled after {len(events)} events"
        frame = await anext(stream)
        if frame.event == "error":
            raise AssertionError(f"stream ended: {frame.data}")
        if frame.data is None:
            continue
        assert frame.id == str(frame.data["id"])
        events.append(frame.data)
    return events


@asynccontextmanager
async def ws(base_url: str, query: str = "") -> AsyncIterator[websockets.ClientConnection]:
    """An open ``WS /v1/ws`` connection."""
    async with websockets.connect(f"{base_url}/v1/ws{query}", open_timeout=LIVENESS_S) as conn:
        yield conn


async def collect_ws(
    conn: websockets.ClientConnection, until: Callable[[list[dict[str, Any]]], bool]
) -> list[dict[str, Any]]:
    """Events from a WebSocket until ``until(events)`` holds (bounded by LIVENESS_S)."""
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + LIVENESS_S
    while not until(events):
        assert time.monotonic() < deadline, f"stream stalled after {len(events)} events"
        events.append(json.loads(await conn.recv()))
    return events
