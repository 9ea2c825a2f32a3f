"""The dead-letter queue is bounded, and its bounds can change on a queue that exists."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.broker.connection import connect
from engine.broker.dead_queue import (
    dead_letter_arguments,
    message_count,
    remaining_expiration,
)
from engine.broker.names import Names
from engine.broker.publisher import Publisher
from engine.broker.topology import declare_dead_letter
from engine.client import Client
from engine.config import Settings, load_settings
from engine.db.database import Database
from engine.errors import ConfigError
from engine.maintenance.dead_letters import sweep
from tests.deadletters.conftest import copies_in_broker, fail_jobs

FAILURES = 10_000  # failures pushed through a queue bounded far below that
BOUND = 50
BATCH = 500


async def _depth(settings: Settings) -> int:
    connection = await connect(settings, "dead-test-depth")
    try:
        return await message_count(connection, Names(settings.namespace).dead_letter_queue) or 0
    finally:
        await connection.close()


async def test_the_queue_never_holds_more_than_its_bound_under_10000_failures(
    space: Settings, db: Database
) -> None:
    bounded = space.evolve(dead_letter_max_length=BOUND)
    publisher = Publisher(bounded)
    try:
        async with Client(bounded, database=db, hooks=[publisher]) as client:
            newest: list[int] = []
            depths = []
            for _ in range(FAILURES // BATCH):
                newest = await fail_jobs(client, publisher, BATCH)
                depths.append(await _depth(bounded))
            assert max(depths) == BOUND, depths
            done = await sweep(bounded, db)
            letters = await client.dead_letters(limit=FAILURES)
    finally:
        await publisher.close()
    assert len(letters) == FAILURES
    assert done.kept == BOUND and done.removed == 0
    # drop-head: the newest failures keep their copies
    assert sorted(d.job_id for d in letters if d.in_broker) == newest[-BOUND:]


async def test_new_bounds_apply_to_a_queue_that_exists_keeping_the_newest_copies(
    space: Settings, db: Database
) -> None:
    names = Names(space.namespace)
    connection = await connect(space, "dead-test-old-queue")
    try:
        channel = await connection.channel()
        # what releases before bounds declared: a classic queue without limits
        await declare_dead_letter(channel, names, {"x-queue-type": "classic"})
        await channel.close()
    finally:
        await connection.close()
    publisher = Publisher(space)
    try:
        async with Client(space, database=db, hooks=[publisher]) as client:
            ids = await fail_jobs(client, publisher, 8)
    finally:
        await publisher.close()
    assert [j for j, _ in await copies_in_broker(space)] == ids

    small = space.evolve(dead_letter_max_length=3)
    done = await sweep(small, db)

    assert done.rebound and done.kept == 3
    assert [j for j, _ in await copies_in_broker(space)] == ids[-3:]

    # a process still configured with other bounds publishes into the queue as it is
    publisher = Publisher(space)
    try:
        async with Client(space, database=db, hooks=[publisher]) as client:
            later = await fail_jobs(client, publisher, 2)
    finally:
        await publisher.close()
    assert [j for j, _ in await copies_in_broker(space)] == [ids[-1], *later]

    larger = space.evolve(dead_letter_max_length=5)
    publisher = Publisher(larger)
    try:
        async with Client(larger, database=db, hooks=[publisher]) as client:
            assert (await sweep(larger, db)).rebound
            more = await fail_jobs(client, publisher, 4)
    finally:
        await publisher.close()
    assert [j for j, _ in await copies_in_broker(space)] == [later[-1], *more]
    assert not (await sweep(larger, db)).rebound  # the same bounds again: nothing to move


def test_a_moved_copy_keeps_what_its_age_leaves_of_the_new_ttl() -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    assert remaining_expiration(now - timedelta(seconds=10), 60_000, now) == "50000"
    assert remaining_expiration(now - timedelta(days=3), 60_000, now) == "0"
    assert remaining_expiration(None, 60_000, now) is None


def test_bounds_are_settings_with_defaults_and_become_queue_arguments() -> None:
    settings = load_settings(environ={})
    assert settings.dead_letter_max_length == 100_000
    assert settings.dead_letter_max_age == "14d"
    assert dead_letter_arguments(settings) == {
        "x-queue-type": "classic",
        "x-max-length": 100_000,
        "x-message-ttl": 14 * 86_400_000,
        "x-overflow": "drop-head",
    }
    env = {"QUEUECONSOLE_DEAD_LETTER_MAX_LENGTH": "500", "QUEUECONSOLE_DEAD_LETTER_MAX_AGE": "2d"}
    assert dead_letter_arguments(load_settings(environ=env))["x-max-length"] == 500


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"QUEUECONSOLE_DEAD_LETTER_MAX_LENGTH": "0"}, "dead_letter_max_length must be"),
        ({"QUEUECONSOLE_DEAD_LETTER_MAX_AGE": "60d"}, "dead_letter_max_age '60d' must be"),
        ({"QUEUECONSOLE_DEAD_LETTER_MAX_AGE": "14"}, "is not a duration"),
    ],
)
def test_a_bound_rabbitmq_could_not_apply_is_refused_by_name(
    env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(environ=env)
