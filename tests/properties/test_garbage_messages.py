"""Garbage on a work queue is acked, noted where it names a job, and never stops a worker.

Anyone with access to the broker can publish to ``NS.q.default``: a buggy
producer, an operator with the management UI, a stale copy of an old message.
Against the real engine (supervisor, one worker process), raw bodies are
published with pika directly: not JSON, JSON of the wrong shape, ids and
attempts beyond the database's integer types, an unknown job, a wrong
attempt, a cancelled job, a finished job, a deeply nested body and an 8 MiB
one. The queue must drain to zero, the jobs named must carry a note, and the
same worker process must go on to run a real job.
"""

from __future__ import annotations

import asyncio
import time

import pika
from sqlalchemy import text

from engine.broker.names import Names
from engine.client import Client
from engine.config import Settings
from engine.db.database import Database
from engine.states import State
from tests.support.runtime import (
    LIVENESS_S,
    isolated,
    running_engine,
    wait_for,
    wait_until_settled,
)

UNKNOWN_ID = 10**9


def garbage_bodies(done_id: int, cancelled_id: int) -> list[bytes]:
    """Every kind of body a work queue should survive."""
    return [
        b"",
        b"not json \xff\xfe",
        b"null",
        b"[1, 2, 3]",
        b'"a string"',
        b'{"id": "1", "attempt": 0}',
        b'{"id": 1}',
        b'{"id": -1, "attempt": 0}',
        b'{"id": 1.5, "attempt": 0}',
        b'{"id": true, "attempt": 0}',
        b'{"id": 18446744073709551616, "attempt": 0}',  # beyond bigint
        b'{"id": %d, "attempt": 1099511627776}' % done_id,  # attempt beyond integer
        b'{"id": %d, "attempt": 0}' % UNKNOWN_ID,
        b'{"id": %d, "attempt": 7}' % done_id,  # wrong attempt of a finished job
        b'{"id": %d, "attempt": 0}' % cancelled_id,
        b'{"id": %d, "attempt": 0, "x": "\\u0000"}' % done_id,
        b"[" * 200_000,
        b"x" * (8 * 1024 * 1024),
    ]


def publish_raw(settings: Settings, bodies: list[bytes]) -> None:
    """Publish with plain pika, half to the queue directly, half through the work exchange."""
    names = Names(settings.namespace)
    connection = pika.BlockingConnection(pika.URLParameters(settings.amqp_url))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        for i, body in enumerate(bodies):
            if i % 2:
                exchange, key = "", names.queue("default")
            else:
                exchange, key = names.work_exchange, "default"
            props = pika.BasicProperties(
                content_type=("text/plain", None, "application/json")[i % 3],
                delivery_mode=2,
                priority=(None, 0, 3, 9)[i % 4],
                headers={"x-junk": "\x1b[31m"} if i % 5 == 0 else None,
            )
            channel.basic_publish(exchange, key, body, props, mandatory=True)
    finally:
        connection.close()


CONTROL_GARBAGE = [
    b"not json",
    b"[]",
    b'{"cmd": "scale", "queue": "a b", "workers": 1}',
    b'{"cmd": "scale", "queue": "default\\n", "workers": 1}',
    b'{"cmd": "scale", "queue": "default", "workers": "9"}',
    b'{"cmd": "scale", "queue": "default", "workers": -1}',
    b'{"cmd": "stop_job", "job_id": 18446744073709551616, "attempt": 0}',
    b'{"cmd": "stop_job"}',
    b'{"cmd": "recycle", "worker_id": 5}',
    b'{"cmd": "\\u001b[31m"}',
]
"""Bodies on the control exchange that no supervisor or worker may act on."""


def publish_control(settings: Settings, bodies: list[bytes]) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(settings.amqp_url))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        for body in bodies:
            channel.basic_publish(Names(settings.namespace).control_exchange, "", body)
    finally:
        connection.close()


def ready_messages(settings: Settings) -> int:
    """Messages waiting in the default work queue (passive declare: ready only)."""
    connection = pika.BlockingConnection(pika.URLParameters(settings.amqp_url))
    try:
        queue = Names(settings.namespace).queue("default")
        return connection.channel().queue_declare(queue, passive=True).method.message_count
    finally:
        connection.close()


async def wait_drained(settings: Settings) -> None:
    deadline = time.monotonic() + LIVENESS_S
    while (left := await asyncio.to_thread(ready_messages, settings)) != 0:
        assert time.monotonic() < deadline, f"{left} messages never left the work queue"
        await asyncio.sleep(0.2)


async def notes(db: Database, job_id: int) -> list[str]:
    async with db.connection() as conn:
        rows = await conn.execute(
            text(
                "SELECT reason FROM job_events WHERE job_id = :id "
                "AND from_state = to_state ORDER BY id"
            ),
            {"id": job_id},
        )
        return [r.reason for r in rows]


async def test_garbage_is_acked_noted_and_the_worker_keeps_working(migrated, db):
    settings = isolated(migrated)
    async with running_engine(settings, workers=1) as (engine, client):
        done = await client.submit("demo.noop")
        await wait_until_settled(db, [done.id])
        worker_pids = {w.pid for w in engine.supervisor.snapshot().workers}
        assert len(worker_pids) == 1 and None not in worker_pids

        quiet = Client(settings, database=db)  # no hooks: publishes nothing itself
        cancelled = await quiet.submit("demo.noop")
        await quiet.cancel(cancelled.id)

        await asyncio.to_thread(publish_raw, settings, garbage_bodies(done.id, cancelled.id))
        await asyncio.to_thread(publish_control, settings, CONTROL_GARBAGE)
        await wait_drained(settings)
        await wait_for(
            db,
            "SELECT count(*) >= 2 FROM job_events WHERE job_id = :id "
            "AND from_state = to_state AND reason LIKE 'stale message%'",
            {"id": done.id},
        )
        await wait_for(
            db,
            "SELECT count(*) >= 1 FROM job_events WHERE job_id = :id "
            "AND from_state = to_state AND reason LIKE 'stale message%'",
            {"id": cancelled.id},
        )
        assert any("attempt 7" in n for n in await notes(db, done.id))
        assert any("cancelled" in n for n in await notes(db, cancelled.id))
        async with db.connection() as conn:
            assert (
                await conn.scalar(
                    text("SELECT count(*) FROM jobs WHERE id = :id"), {"id": UNKNOWN_ID}
                )
                == 0
            )

        after = await client.submit("demo.noop")
        assert (await wait_until_settled(db, [after.id]))[after.id] is State.COMPLETED
        assert {w.pid for w in engine.supervisor.snapshot().workers} == worker_pids
        assert dict(engine.supervisor.targets) == {"default": 1}
        states = await wait_until_settled(db, [done.id, cancelled.id])
        assert states == {done.id: State.COMPLETED, cancelled.id: State.CANCELLED}

        # Acked, not merely held: once every consumer is gone, an unacked message would
        # be back in the queue.
        await engine.supervisor.stop()
        assert await asyncio.to_thread(ready_messages, settings) == 0
