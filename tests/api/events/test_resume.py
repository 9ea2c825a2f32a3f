"""A client that comes back with Last-Event-ID or after= gets what it missed, once."""

from __future__ import annotations

import asyncio

import httpx
import websockets
from sqlalchemy import text

from engine.client import Client
from engine.config import Settings
from engine.db.database import Database
from engine.specs import JobSpec
from tests.api.events.streams import collect_sse, collect_ws, sse, ws

BURST = 40  # submissions in a burst
PER_SUBMIT = 25  # jobs in each


async def burst(client: Client) -> None:
    """Transitions in a steady flow: submissions, and a cancel after each."""
    for _ in range(BURST):
        jobs = await client.submit_many([JobSpec("t") for _ in range(PER_SUBMIT)])
        await client.cancel(jobs[0].id)
        await asyncio.sleep(0)


async def all_ids(db: Database) -> list[int]:
    async with db.connection() as conn:
        return list((await conn.execute(text("SELECT id FROM job_events ORDER BY id"))).scalars())


def reached(last: int):
    return lambda events: bool(events) and events[-1]["id"] >= last


async def test_sse_resumes_with_last_event_id_without_loss_or_repeat(
    migrated: Settings, client: Client, db: Database, event_server
) -> None:
    async with event_server(migrated) as server:
        async with sse(server.url, params={"after": 0}) as first:
            flow = asyncio.create_task(burst(client))
            before = await collect_sse(first, lambda ev: len(ev) >= 100)
        # the connection is gone mid-burst; the burst goes on
        resume = str(before[-1]["id"])
        async with sse(server.url, headers={"Last-Event-ID": resume}) as second:
            await flow
            stored = await all_ids(db)
            after = await collect_sse(second, reached(stored[-1]))
    received = [e["id"] for e in before + after]
    assert received == stored  # every event, in order, once


async def test_after_is_the_cursor_for_sse_too_and_last_event_id_wins(
    migrated: Settings, client: Client, db: Database, event_server
) -> None:
    jobs = await client.submit_many([JobSpec("t") for _ in range(5)])
    async with event_server(migrated) as server:
        async with sse(server.url, params={"after": 2}) as stream:
            got = await collect_sse(stream, reached(5))
        assert [e["job_id"] for e in got] == [j.id for j in jobs[2:]]
        async with sse(server.url, params={"after": 0}, headers={"Last-Event-ID": "4"}) as s:
            assert [e["id"] for e in await collect_sse(s, reached(5))] == [5]


async def test_websocket_resumes_with_after_without_loss_or_repeat(
    migrated: Settings, client: Client, db: Database, event_server
) -> None:
    async with event_server(migrated) as server:
        async with ws(server.ws_url, "?after=0") as first:
            flow = asyncio.create_task(burst(client))
            before = await collect_ws(first, lambda ev: len(ev) >= 100)
        async with ws(server.ws_url, f"?after={before[-1]['id']}") as second:
            await flow
            stored = await all_ids(db)
            after = await collect_ws(second, reached(stored[-1]))
    assert [e["id"] for e in before + after] == stored


async def test_a_resume_from_far_back_reads_history_then_goes_live(
    migrated: Settings, client: Client, db: Database, event_server
) -> None:
    for _ in range(3):
        await client.submit_many([JobSpec("t") for _ in range(1500)])
    async with (
        event_server(migrated) as server,
        sse(server.url, params={"after": 10, "queue": "default"}) as stream,
    ):
        history = await collect_sse(stream, reached(4500))
        live = await client.submit("t")
        now = await collect_sse(stream, reached(4501))
    assert [e["id"] for e in history] == list(range(11, 4501))
    assert [e["job_id"] for e in now] == [live.id]


async def test_bad_cursors_and_filters_are_refused_naming_them(
    migrated: Settings, db: Database, event_server
) -> None:
    async with event_server(migrated) as server, httpx.AsyncClient(base_url=server.url) as http:
        bad_header = await http.get("/v1/events", headers={"Last-Event-ID": "12; DROP"})
        assert bad_header.status_code == 422 and "Last-Event-ID" in bad_header.text
        bad_after = await http.get("/v1/events", params={"after": "-1"})
        assert bad_after.status_code == 422 and "after" in bad_after.text
        bad_job = await http.get("/v1/events", params={"job": "__import__('os')"})
        assert bad_job.status_code == 422 and "job" in bad_job.text
        try:
            async with websockets.connect(f"{server.ws_url}/v1/ws?workflow=x") as conn:
                await conn.recv()
            raise AssertionError("the socket was accepted")
        except (websockets.InvalidStatus, websockets.ConnectionClosed) as refused:
            assert "1008" in str(refused) or "403" in str(refused)
