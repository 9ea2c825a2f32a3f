"""The helpers the live event stream is mounted with: ``require(..., allow_query_token=True)``
for SSE and ``authenticate_websocket`` for WebSocket, on stand-in routes."""

from __future__ import annotations

import httpx
import pytest
import websockets
from fastapi import Depends, WebSocket

from queueconsole.api.app import create_app
from queueconsole.api.auth import Scope, authenticate_websocket, require
from queueconsole.api.server import ApiServer


@pytest.fixture
async def stream_server(migrated, db):
    app = create_app(migrated)

    @app.get("/test/stream", dependencies=[Depends(require(Scope.READ, allow_query_token=True))])
    async def stream() -> dict[str, bool]:
        return {"ok": True}

    @app.websocket("/test/ws")
    async def ws(websocket: WebSocket) -> None:
        if not await authenticate_websocket(websocket, Scope.READ):
            return
        await websocket.accept()
        await websocket.send_text("hello")
        await websocket.close()

    server = ApiServer(app, host="127.0.0.1", port=0)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def test_a_stream_route_takes_the_token_from_the_query_too(stream_server, tokens):
    async with httpx.AsyncClient(base_url=stream_server.url) as c:
        assert (await c.get("/test/stream", params={"token": tokens["read"]})).status_code == 200
        headers = {"Authorization": f"Bearer {tokens['read']}"}
        assert (await c.get("/test/stream", headers=headers)).status_code == 200
        assert (await c.get("/test/stream")).status_code == 401
        assert (await c.get("/test/stream", params={"token": "qc_wrong"})).status_code == 401


async def test_a_websocket_without_a_good_token_is_refused(stream_server, tokens):
    url = stream_server.url.replace("http://", "ws://") + "/test/ws"
    async with websockets.connect(f"{url}?token={tokens['read']}") as ws:
        assert await ws.recv() == "hello"
    headers = {"Authorization": f"Bearer {tokens['read']}"}
    async with websockets.connect(url, additional_headers=headers) as ws:
        assert await ws.recv() == "hello"
    for bad in (url, f"{url}?token=qc_wrong"):
        async with websockets.connect(bad) as ws:
            with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
                await ws.recv()
        assert closed.value.rcvd.code == 1008
        assert "token" in closed.value.rcvd.reason
