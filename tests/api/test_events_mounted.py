"""The live stream as the API serves it: behind read tokens, then every transition."""

from __future__ import annotations

import json

import httpx
import pytest
import websockets


async def test_the_event_stream_needs_a_read_token_and_then_streams(server, tokens, client):
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as anonymous:
        assert (await anonymous.get("/v1/events")).status_code == 401
    job = await client.submit("demo.noop", {"n": 1})
    url = f"/v1/events?job={job.id}&after=0&token={tokens['read']}"
    async with (
        httpx.AsyncClient(base_url=server.url, timeout=30) as c,
        c.stream("GET", url) as response,
    ):
        assert response.status_code == 200
        async for line in response.aiter_lines():
            if line.startswith("data:"):
                event = json.loads(line[5:])
                break
    assert (event["job_id"], event["to"]) == (job.id, "queued")


async def test_the_websocket_refuses_without_a_token_and_streams_with_one(server, tokens, client):
    ws_url = server.url.replace("http://", "ws://") + "/v1/ws"
    async with websockets.connect(ws_url) as ws:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    job = await client.submit("demo.noop")
    async with websockets.connect(
        f"{ws_url}?after=0&job={job.id}",
        additional_headers={"Authorization": f"Bearer {tokens['read']}"},
    ) as ws:
        event = json.loads(await ws.recv())
    assert event["job_id"] == job.id
