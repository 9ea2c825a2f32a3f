"""The dead-letter queue stays consistent with PostgreSQL: retried, replayed, pruned and
purged failures lose their copy; current ones keep theirs, in order."""

from __future__ import annotations

from engine.broker.publisher import Publisher
from engine.client import Client
from engine.config import Settings
from engine.db.database import Database
from engine.maintenance.dead_letters import DeadLetterService
from tests.deadletters.conftest import copies_in_broker, fail_jobs


async def test_a_retried_job_loses_its_copy_and_the_others_keep_theirs_in_order(
    space: Settings, db: Database, dead_client: Client, publisher: Publisher
) -> None:
    ids = await fail_jobs(dead_client, publisher, 5)
    assert [j for j, _ in await copies_in_broker(space)] == ids

    await dead_client.retry(ids[1])
    service = DeadLetterService(space, db)
    assert await service.due()
    await service.tick()

    assert [j for j, _ in await copies_in_broker(space)] == [ids[0], *ids[2:]]
    listed = {d.job_id: d.in_broker for d in await dead_client.dead_letters()}
    assert listed == {ids[0]: True, ids[2]: True, ids[3]: True, ids[4]: True}
