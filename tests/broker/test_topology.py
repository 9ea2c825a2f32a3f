"""Declaring the topology is idempotent and lands where the names say."""

from __future__ import annotations

import pytest

from engine.broker.admin import admin_connection
from engine.broker.connection import ChannelLost
from engine.broker.depth import delete_namespace
from engine.broker.names import MAX_PRIORITY
from engine.broker.topology import WORK_QUEUE_ARGUMENTS, declare_all
from tests.broker.conftest import Space


async def test_declaring_everything_twice_is_harmless(space: Space):
    queues = space.use("default", "emails")
    async with admin_connection(space.settings) as connection:
        channel = await connection.channel()
        await declare_all(channel, space.names, queues)
        await declare_all(channel, space.names, queues)
        for queue in queues:
            declared = await channel.queue_declare(space.names.queue(queue), passive=True)
            assert declared.method.message_count == 0
        await channel.exchange_declare(space.names.control_exchange, "fanout", passive=True)
        await channel.exchange_declare(space.names.dead_letter_exchange, "fanout", passive=True)
        await channel.queue_declare(space.names.dead_letter_queue, passive=True)
        await channel.close()


def test_work_queues_are_classic_priority_queues():
    assert WORK_QUEUE_ARGUMENTS == {"x-queue-type": "classic", "x-max-priority": MAX_PRIORITY}
    assert MAX_PRIORITY == 3


async def test_deleting_a_namespace_leaves_nothing_behind(space: Space):
    queues = ["default"]
    async with admin_connection(space.settings) as connection:
        channel = await connection.channel()
        await declare_all(channel, space.names, queues)
        await channel.close()
    await delete_namespace(space.settings, space.names, queues)
    await delete_namespace(space.settings, space.names, queues)  # again: nothing to do
    async with admin_connection(space.settings) as connection:
        for check in (
            lambda ch: ch.queue_declare(space.names.queue("default"), passive=True),
            lambda ch: ch.queue_declare(space.names.dead_letter_queue, passive=True),
            lambda ch: ch.exchange_declare(space.names.work_exchange, "direct", passive=True),
            lambda ch: ch.exchange_declare(space.names.control_exchange, "fanout", passive=True),
        ):
            channel = await connection.channel()
            with pytest.raises(ChannelLost) as lost:
                await check(channel)
            assert lost.value.reply_code == 404
