"""Ids are taken before commit: a later id can be visible before an earlier one.

The stream must neither skip the earlier one when it commits late nor wait for
ever when it never commits (its transaction rolled back).
"""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from engine.client import Client
from engine.config import Settings
from engine.db.database import Database
from tests.api.events.conftest import EventServer
from tests.api.events.streams import collect_sse, sse
from tests.support.runtime import LIVENESS_S

NOTE = text(
    "INSERT INTO job_events (job_id, from_state, to_state, attempt, reason) "
    "VALUES (:job, 'queued', 'queued', 0, :reason) RETURNING id"
)


async def held_back(server: EventServer) -> None:
    """Wait until the reader has seen the later id and holds it behind the missing one."""
    for _ in range(int(LIVENESS_S / 0.02)):
        if server.hub.source.waiting_for_gap:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the reader never saw the gap")


async def test_an_earlier_id_committed_late_is_sent_first_and_not_skipped(
    migrated: Settings, client: Client, db: Database, event_server
) -> None:
    job = await client.submit("t")
    async with event_server(migrated) as server, sse(server.url) as stream:
        async with db.transaction() as slow:
            late = (await slow.execute(NOTE, {"job": job.id, "reason": "late"})).scalar_one()
            async with db.transaction() as quick:
                early = (await quick.execute(NOTE, {"job": job.id, "reason": "early"})).scalar_one()
            assert early > late
            await held_back(server)
        # the slow transaction commits now
        events = await collect_sse(stream, lambda ev: len(ev) >= 2)
        async with sse(server.url, headers={"Last-Event-ID": str(late - 1)}) as again:
            replayed = await collect_sse(again, lambda ev: len(ev) >= 2)
    assert [(e["id"], e["reason"]) for e in events] == [(late, "late"), (early, "early")]
    assert [e["id"] for e in replayed] == [late, early]


async def test_an_id_whose_transaction_rolled_back_does_not_hold_the_stream_for_ever(
    migrated: Settings, client: Client, db: Database, event_server
) -> None:
    job = await client.submit("t")
    async with event_server(migrated) as server, sse(server.url) as stream:
        conn = await db.engine.connect()
        try:
            undone = await conn.begin()
            lost = (await conn.execute(NOTE, {"job": job.id, "reason": "lost"})).scalar_one()
            async with db.transaction() as quick:
                kept = (await quick.execute(NOTE, {"job": job.id, "reason": "kept"})).scalar_one()
            await held_back(server)
            await undone.rollback()
        finally:
            await conn.close()
        events = await collect_sse(stream, lambda ev: len(ev) >= 1)
        skipped = server.hub.source.skipped
    assert kept > lost
    assert [(e["id"], e["reason"]) for e in events] == [(kept, "kept")]
    assert skipped == 0  # proven rolled back, not given up on after GAP_GIVE_UP_S
