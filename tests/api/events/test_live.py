"""Live events over SSE and WebSocket: what arrives, and which."""

from __future__ import annotations

import asyncio
from datetime import datetime

from sqlalchemy import text

from engine.client import Client
from engine.config import Settings
from engine.db.database import Database
from engine.specs import JobSpec
from tests.api.events.streams import collect_sse, collect_ws, sse, ws
from tests.support.runtime import isolated, running_engine

FIELDS = {
    "id", "job_id", "from", "to", "at", "reason", "queue", "type", "workflow_id", "attempt",
    "worker", "tenant",
}  # fmt: skip


def finished(job_ids: set[int]):
    """A stop condition: every one of ``job_ids`` has reached completed."""
    return lambda events: job_ids <= {e["job_id"] for e in events if e["to"] == "completed"}


async def test_a_job_run_by_workers_streams_every_transition_with_its_fields(
    migrated: Settings, db: Database, event_server
) -> None:
    settings = isolated(migrated)
    async with (
        event_server(settings) as server,
        running_engine(settings) as (_engine, client),
        sse(server.url) as stream,
    ):
        wf = await client.submit_workflow(
            [JobSpec("demo.noop", ref="a"), JobSpec("demo.noop", ref="b", depends_on=["a"])],
            name="pair",
        )
        ids = set(wf.ids.values())
        events = await collect_sse(stream, finished(ids))

    assert all(set(e) == FIELDS for e in events)
    mine = [e for e in events if e["job_id"] in ids]
    b = wf.ids["b"]
    assert [(e["from"], e["to"]) for e in mine if e["job_id"] == b] == [
        (None, "pending"),
        ("pending", "queued"),
        ("queued", "running"),
        ("running", "completed"),
    ]
    run = next(e for e in mine if e["job_id"] == b and e["to"] == "completed")
    assert run["queue"] == "default" and run["type"] == "demo.noop"
    assert run["workflow_id"] == wf.workflow_id and run["attempt"] == 1 and run["worker"]
    assert datetime.fromisoformat(run["at"]).tzinfo is not None
    ids_in_order = [e["id"] for e in events]
    assert ids_in_order == sorted(set(ids_in_order))
    async with db.connection() as conn:
        stored = (await conn.execute(text("SELECT id FROM job_events ORDER BY id"))).scalars()
        assert ids_in_order == list(stored)


async def test_filters_combine_alternatives_within_a_parameter_and_narrow_across(
    migrated: Settings, client: Client, event_server
) -> None:
    async with event_server(migrated) as server:
        wanted = {"queue": ["mail", "resize"], "workflow": []}
        async with (
            sse(server.url, params={"queue": ["mail", "resize"]}) as by_queue,
            sse(server.url, params=[("queue", "mail"), ("job", "2"), ("job", "3")]) as narrowed,
            ws(server.ws_url, "?queue=resize") as only_resize,
        ):
            jobs = await client.submit_many(
                [JobSpec("t", queue=q) for q in ("mail", "resize", "mail", "other", "mail")]
            )
            ids = [j.id for j in jobs]
            marker = await client.submit("t", queue="resize")
            done = lambda events: marker.id in {e["job_id"] for e in events}  # noqa: E731
            got_queue = await collect_sse(by_queue, done)
            got_resize = await collect_ws(only_resize, done)
            last = await client.submit("t", queue="mail")
            got_narrowed = await collect_sse(
                narrowed, lambda events: bool(events) and events[-1]["job_id"] >= ids[2]
            )
            del wanted, last
    assert [e["job_id"] for e in got_queue] == [ids[0], ids[1], ids[2], ids[4], marker.id]
    assert [e["job_id"] for e in got_resize] == [ids[1], marker.id]
    assert [e["job_id"] for e in got_narrowed] == [ids[2]]


async def test_a_workflow_filter_sends_only_that_workflow(
    migrated: Settings, client: Client, event_server
) -> None:
    async with event_server(migrated) as server:
        one = await client.submit_workflow([JobSpec("t", ref="x")], name="one")
        async with sse(server.url, params={"workflow": [str(one.workflow_id + 1)]}) as stream:
            await client.submit("t")
            two = await client.submit_workflow([JobSpec("t", ref="y")], name="two")
            await client.cancel(two.ids["y"])
            events = await collect_sse(stream, lambda ev: len(ev) >= 2)
    assert {e["workflow_id"] for e in events} == {two.workflow_id}
    assert [e["to"] for e in events] == ["queued", "cancelled"]


async def test_without_redis_events_still_arrive_by_polling(
    migrated: Settings, client: Client, event_server
) -> None:
    from tests.support.services import free_port

    dead = migrated.evolve(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    async with event_server(dead) as server, sse(server.url) as stream:
        job = await client.submit("t")
        await client.cancel(job.id)
        events = await collect_sse(stream, lambda ev: len(ev) >= 2)
        assert not server.hub.source.subscribed.is_set()
    assert [(e["job_id"], e["to"]) for e in events] == [(job.id, "queued"), (job.id, "cancelled")]


async def test_keep_alive_comments_flow_while_nothing_happens(
    migrated: Settings, db: Database, event_server, monkeypatch
) -> None:
    from queueconsole.api.events import routes
    from tests.api.events.streams import Frame

    monkeypatch.setattr(routes, "KEEPALIVE_S", 0.05)
    async with event_server(migrated) as server, sse(server.url) as stream:
        seen: list[Frame] = [await anext(stream) for _ in range(3)]
    assert seen[0].comments == ["connected"]
    assert [f.comments for f in seen[1:]] == [["keep-alive"], ["keep-alive"]]


async def test_the_reader_idles_once_the_last_client_has_left(
    migrated: Settings, client: Client, event_server
) -> None:
    async with event_server(migrated, idle_after_s=0.1) as server:
        assert not server.hub.active  # nothing runs before a client comes
        async with sse(server.url) as a, sse(server.url) as b:
            await client.submit("t")
            await collect_sse(a, lambda ev: len(ev) >= 1)
            await collect_sse(b, lambda ev: len(ev) >= 1)
            assert server.hub.active and len(server.hub.clients) == 2
        for _ in range(600):
            if not server.hub.active:
                break
            await asyncio.sleep(0.05)
        assert not server.hub.active and not server.hub.clients
        async with sse(server.url) as again:  # and it starts again for the next one
            job = await client.submit("t")
            try:
                assert (await collect_sse(again, lambda ev: len(ev) >= 1))[0]["job_id"] == job.id
            except AssertionError:
                h = server.hub
                o = h.source._order
                print("DEBUG", h.active, h.readers, len(h.clients), h._exiting, h._loop, job.id)
                print("DEBUG order", o and (o.settled, o.read_upto, o.gaps, list(o.held)[:5]))
                raise
