"""A dead-letter queue declared classic is moved to quorum by the sweep, copies kept."""

from __future__ import annotations

from engine.broker.admin import admin_connection
from engine.broker.dead_queue import dead_letter_arguments
from engine.broker.names import Names
from engine.broker.publisher import Publisher
from engine.client import Client
from engine.config import Settings
from engine.db.database import Database
from engine.maintenance.dead_letters import sweep
from tests.deadletters.conftest import copies_in_broker, fail_jobs


async def test_a_classic_dead_letter_queue_becomes_quorum_with_its_copies(
    space: Settings, db: Database, dead_client: Client, publisher: Publisher
) -> None:
    ids = await fail_jobs(dead_client, publisher, 3)  # copies in a classic NS.dead
    quorum = space.evolve(queue_type="quorum")

    done = await sweep(quorum, db)

    assert done.rebound and done.kept == 3
    assert [j for j, _ in await copies_in_broker(quorum)] == ids
    async with admin_connection(quorum) as connection:
        channel = await connection.channel()
        # Accepted only if NS.dead now is a quorum queue with the configured bounds.
        await channel.queue_declare(
            Names.of(quorum).dead_letter_queue,
            durable=True,
            arguments=dead_letter_arguments(quorum),
        )
        await channel.close()
