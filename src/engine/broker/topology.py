"""Declaring the exchanges and queues one installation uses.

Every declaration is idempotent (same name, same arguments), so publishers,
consumers and the control bus each declare what they need instead of relying
on an installer having run first. Changing an argument of an existing queue
is refused by RabbitMQ (406 PRECONDITION_FAILED): queues are durable, so
their arguments are part of the installation's contract. The dead-letter
queue's bounds are the exception, configurable: ``engine.broker.dead_queue``
changes them by moving its copies through a holding queue.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from engine.broker.connection import AsyncChannel
from engine.broker.dead_queue import dead_letter_arguments
from engine.broker.names import MAX_PRIORITY, Names
from engine.config import Settings

WORK_QUEUE_ARGUMENTS: dict[str, Any] = {
    "x-queue-type": "classic",
    "x-max-priority": MAX_PRIORITY,
}
"""Classic queues, because only they order by priority; explicit, so a server whose
default queue type is quorum still gives us what we rely on."""


async def declare_work_exchange(channel: AsyncChannel, names: Names) -> None:
    """The direct exchange jobs are published to (routing key = engine queue)."""
    await channel.exchange_declare(names.work_exchange, "direct", durable=True)


async def declare_queues(channel: AsyncChannel, names: Names, queues: Iterable[str]) -> None:
    """The work exchange and, per engine queue, its durable priority queue and binding."""
    await declare_work_exchange(channel, names)
    wanted = list(dict.fromkeys(queues))
    # pika sends one RPC at a time per channel and queues the rest, so issuing them
    # together costs no extra round trips and saves an await per declaration.
    await asyncio.gather(
        *(
            channel.queue_declare(
                names.queue(q), durable=True, arguments=dict(WORK_QUEUE_ARGUMENTS)
            )
            for q in wanted
        )
    )
    await asyncio.gather(
        *(channel.queue_bind(names.queue(q), names.work_exchange, routing_key=q) for q in wanted)
    )


async def declare_dead_letter(
    channel: AsyncChannel, names: Names, arguments: dict[str, Any] | None = None
) -> None:
    """The fanout dead-letter exchange and the durable queue that keeps its copies,
    bounded by ``arguments`` (the default settings' bounds when not given)."""
    if arguments is None:
        arguments = dead_letter_arguments(Settings())
    await channel.exchange_declare(names.dead_letter_exchange, "fanout", durable=True)
    await channel.queue_declare(names.dead_letter_queue, durable=True, arguments=dict(arguments))
    await channel.queue_bind(names.dead_letter_queue, names.dead_letter_exchange, routing_key="")


async def declare_control(channel: AsyncChannel, names: Names) -> None:
    """The fanout exchange every supervisor and worker listens on."""
    await channel.exchange_declare(names.control_exchange, "fanout", durable=True)


async def declare_all(channel: AsyncChannel, names: Names, queues: Iterable[str]) -> None:
    """Everything an installation with these engine queues needs."""
    await declare_queues(channel, names, queues)
    await declare_dead_letter(channel, names)
    await declare_control(channel, names)
