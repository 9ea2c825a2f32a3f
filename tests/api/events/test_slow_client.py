"""A client that stops reading is dropped with a reason, not buffered without end."""

from __future__ import annotations

import asyncio
import json
import socket

import websockets

from engine.config import Settings
from engine.db.database import Database
from engine.runtime.wiring import open_client
from engine.specs import JobSpec
from tests.api.events.conftest import EventServer
from tests.api.events.streams import Frame, collect_sse, sse
from tests.support.runtime import LIVENESS_S

MAX_BEHIND = 100  # the test hub's limit (the real one is 10,000)
FLOOD = 400  # submissions of 25 jobs at most: more than socket buffers and the limit together


async def flood_until_dropped(server: EventServer, settings: Settings) -> int:
    """Submit small batches until the hub has let go of its one client; the last id.

    The client publishes on Redis after each commit, so the reader wakes for each
    batch and events reach the stream a few at a time, as they would in production.
    """
    async with open_client(settings) as client:
        for n in range(1, FLOOD + 1):
            await client.submit_many([JobSpec("t") for _ in range(25)])
            if not server.hub.clients:
                return n * 25
            await asyncio.sleep(0.005)
    raise AssertionError("the slow client was never dropped")


def small_socket(url: str) -> socket.socket:
    """A connected socket whose receive buffer cannot grow: a reader that stops reading
    fills it at once instead of after megabytes."""
    host, port = url.rsplit("/", 1)[-1].split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    sock.setblocking(False)
    return sock


async def read_sse_body(reader: asyncio.StreamReader) -> list[Frame]:
    """The frames of a chunked ``text/event-stream`` response, read to its end."""
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"chunked" in head.lower(), head
    body = b""
    while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
        body += await reader.readexactly(size + 2)
        body = body[:-2]
    out: list[Frame] = []
    for block in body.decode().split("\n\n"):
        frame, data = Frame(), ""
        for line in block.splitlines():
            name, _, value = line.partition(": ")
            if name == "event":
                frame.event = value
            elif name == "data":
                data = value
        if data:
            frame.data = json.loads(data)
            out.append(frame)
    return out


async def test_a_slow_sse_client_gets_an_error_event_and_can_resume(
    migrated: Settings, db: Database, event_server
) -> None:
    async with event_server(migrated, max_behind=MAX_BEHIND, send_buffer=4096) as server:
        reader, writer = await asyncio.open_connection(sock=small_socket(server.url))
        writer.write(b"GET /v1/events HTTP/1.1\r\nHost: test\r\n\r\n")
        await writer.drain()
        for _ in range(int(LIVENESS_S / 0.01)):  # until it is connected and live
            if server.hub.clients:
                break
            await asyncio.sleep(0.01)
        last_id = await flood_until_dropped(server, migrated)
        try:
            *events, last = await read_sse_body(reader)  # now read what was sent, to the end
        finally:
            writer.close()
            await writer.wait_closed()
        assert last.event == "error" and last.data["slow"] is True
        assert "behind" in last.data["reason"]
        ids = [f.data["id"] for f in events]
        assert ids and ids == list(range(1, len(ids) + 1))  # no hole before the cut
        async with sse(server.url, headers={"Last-Event-ID": str(ids[-1])}) as resumed:
            rest = await collect_sse(resumed, lambda ev: bool(ev) and ev[-1]["id"] >= last_id)
        assert [e["id"] for e in rest] == list(range(ids[-1] + 1, last_id + 1))


async def test_a_slow_websocket_client_is_closed_with_1013(
    migrated: Settings, db: Database, event_server
) -> None:
    async with event_server(migrated, max_behind=MAX_BEHIND, send_buffer=4096) as server:
        sock = small_socket(server.url)
        async with websockets.connect(f"{server.ws_url}/v1/ws", sock=sock, max_queue=4) as conn:
            for _ in range(int(LIVENESS_S / 0.01)):  # until it is connected and live
                if server.hub.clients:
                    break
                await asyncio.sleep(0.01)
            await flood_until_dropped(server, migrated)
            count = 0
            try:
                while True:
                    await conn.recv()
                    count += 1
            except websockets.ConnectionClosed as closed:
                assert closed.rcvd is not None and closed.rcvd.code == 1013
                assert "behind" in closed.rcvd.reason
            assert 0 < count < 10_000
