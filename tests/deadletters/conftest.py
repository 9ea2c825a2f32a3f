"""Dead-letter fixtures: a namespace of its own per test, failures made through the store."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import pytest
from sqlalchemy import text

from engine.broker.admin import delete_namespace
from engine.broker.connection import connect
from engine.broker.dead_queue import browse
from engine.broker.names import Names
from engine.broker.publisher import Publisher
from engine.client import Client
from engine.config import Settings
from engine.db.database import Database
from engine.maintenance.dead_letters import sweep_lease
from engine.specs import JobSpec
from engine.store import transitions
from engine.store.transitions import Failure
from engine.worker.fingerprint import fingerprint
from tests.support.runtime import isolated

WORKER = "dead-letter-test-worker"


@pytest.fixture
async def space(migrated: Settings) -> AsyncIterator[Settings]:
    """Settings with a namespace of its own (so its dead-letter queue starts empty)."""
    settings = isolated(migrated)
    yield settings
    await delete_namespace(settings, Names(settings.namespace), ["default"])


@pytest.fixture
async def publisher(space: Settings) -> AsyncIterator[Publisher]:
    p = Publisher(space)
    yield p
    await p.close()


@pytest.fixture
async def dead_client(space: Settings, db: Database, publisher: Publisher) -> AsyncIterator[Client]:
    """A client of the test's namespace whose commits are published."""
    async with Client(space, database=db, hooks=[publisher]) as c:
        yield c


async def fail_jobs(
    client: Client, publisher: Publisher, n: int, *, error: str = "boom", **spec: object
) -> list[int]:
    """Submit ``n`` jobs, claim them and fail them for good, as a worker would: the
    failures' dead-letter copies are published after the commit."""
    submitted = await client.submit_many([JobSpec("demo.fail", **spec)] * n)  # type: ignore[arg-type]
    ids = [s.id for s in submitted]
    await fail_ids(client.db, publisher, ids, error=error)
    return ids


async def fail_ids(
    db: Database,
    publisher: Publisher | None,
    ids: Sequence[int],
    *,
    error: str = "boom",
) -> None:
    """Claim these QUEUED jobs and fail them for good, then publish the copies (not
    without a publisher: as when RabbitMQ was down at that moment)."""
    async with db.connection() as conn:
        rows = await conn.execute(
            text("SELECT id, attempts FROM jobs WHERE id = ANY(CAST(:ids AS bigint[]))"),
            {"ids": list(ids)},
        )
        messages = [(r.id, r.attempts) for r in rows]
    claimed, refused, _ = await db.run(lambda conn: transitions.claim(conn, messages, WORKER))
    assert len(claimed) == len(ids), refused
    failures = [
        Failure(
            c.id,
            c.attempt,
            "ValueError",
            error,
            fingerprint=fingerprint("ValueError", error),
            retryable=False,
        )
        for c in claimed
    ]
    changes = await db.run(lambda conn: transitions.fail(conn, failures))
    if publisher is not None:
        await publisher.after_commit(changes)


async def copies_in_broker(settings: Settings) -> list[tuple[int | None, int | None]]:
    """(job id, attempt) of every copy in the dead-letter queue, oldest first; the copies
    stay where they were. Under the sweep lease, like every reader of the whole queue, so
    an engine's sweep running meanwhile is not shown a queue without them."""
    db = Database(settings)
    try:
        async with sweep_lease(db, wait_s=60) as taken:
            assert taken, "the dead-letter sweep lease stayed taken for a minute"
            connection = await connect(settings, "dead-test-browse")
            try:
                found = await browse(connection, Names(settings.namespace).dead_letter_queue)
                if found is None:
                    return []
                await found.settle([])
                return [(c.job_id, c.attempt) for c in found.copies]
            finally:
                await connection.close()
    finally:
        await db.close()
