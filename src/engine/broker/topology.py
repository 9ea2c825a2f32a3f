"""Declaring the exchanges and queues one installation uses.

Every declaration is idempotent (same name, same arguments), so publishers,
consumers and the control bus each declare what they need instead of relying
on an installer having run first. Changing an argument of an existing queue
is refused by RabbitMQ (406 PRECONDITION_FAILED): queues are durable, so
their arguments are part of the installation's contract.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from engine.broker.connection import AsyncChannel
from engine.broker.names import MAX_PRIORITY, Names

WORK_QUEUE_ARGUMENTS: dict[str, Any] = {
    "x-queue-type": "classic",
    "x-max-priority": MAX_PRIORITY,
}
"""Classic queues, because only they order by priority; explicit, so a server whose
default queue type is quorum still gives us what we rely on."""

DEAD_LETTER_QUEUE_ARGUMENTS: dict[str, Any] = {"x-queue-type": "classic"}


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


async def declare_dead_letter(channel: AsyncChannel, names: Names) -> None:
    """The fanout dead-letter exchange and the durable queue that keeps its copies."""
    await channel.exchange_declare(names.dead_letter_exchange, "fanout", durable=True)
    await channel.queue_declare(
        names.dead_letter_queue, durable=True, arguments=dict(DEAD_LETTER_QUEUE_ARGUMENTS)
    )
    await channel.queue_bind(names.dead_letter_queue, names.dead_letter_exchange, routing_key="")


async def declare_control(channel: AsyncChannel, names: Names) -> None:
    """The fanout exchange every supervisor and worker listens on."""
    await channel.exchange_declare(names.control_exchange, "fanout", durable=True)


async def declare_all(channel: AsyncChannel, names: Names, queues: Iterable[str]) -> None:
    """Everything an installation with these engine queues needs."""
    await declare_queues(channel, names, queues)
    await declare_dead_letter(channel, names)
    await declare_control(channel, names)
