"""A job that outlives RabbitMQ's consumer_timeout still completes, exactly once.

RabbitMQ closes the channel of a consumer that holds a delivery unacked past
``consumer_timeout``. Workers ack right after the claim commits, so a long run
never holds a delivery; this runs a job several times longer than the timeout
on a private broker configured with a short one.
"""

from __future__ import annotations

from sqlalchemy import text

from engine.config import Settings
from engine.db.database import Database
from engine.states import State
from localservices.rabbitmq import PrivateRabbitMQ
from tests.support.private import SESSION_CONSUMER_TIMEOUT_MS
from tests.support.runtime import completed_twice, isolated, running_engine, wait_until_settled

TIMEOUT_MS = 2000


async def test_a_job_longer_than_consumer_timeout_completes_once(
    migrated: Settings, db: Database, private_rabbitmq: PrivateRabbitMQ
) -> None:
    settings = isolated(migrated).evolve(amqp_url=private_rabbitmq.url)
    private_rabbitmq.set_consumer_timeout(TIMEOUT_MS)  # before the workers open channels
    try:
        async with running_engine(settings, workers=1) as (_, client):
            long = await client.submit("demo.sleep", {"seconds": 3 * TIMEOUT_MS / 1000})
            after = await client.submit("demo.noop")
            final = await wait_until_settled(db, [long.id, after.id])
    finally:
        private_rabbitmq.set_consumer_timeout(SESSION_CONSUMER_TIMEOUT_MS)
    assert final == {long.id: State.COMPLETED, after.id: State.COMPLETED}
    async with db.connection() as conn:
        attempts = await conn.scalar(
            text("SELECT attempts FROM jobs WHERE id = :id"), {"id": long.id}
        )
    assert attempts == 1  # never redelivered and run again
    assert await completed_twice(db) == []
