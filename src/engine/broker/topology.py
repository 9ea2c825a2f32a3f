"""Declaring the exchanges and queues one installation uses.

Every declaration is idempotent (same name, same arguments), so publishers,
consumers and the control bus each declare what they need instead of relying
on an installer having run first. Changing an argument of an existing queue
is refused by RabbitMQ (406 PRECONDITION_FAILED): queues are durable, so
their arguments are part of the installation's contract. The dead-letter
queue's bounds are the exception, configurable: ``engine.broker.dead_queue``
changes them by moving its copies through a holding queue.

The queue type (``queue_type``: classic or quorum) is such a contract too: a
work queue declared with the other type is refused, and :func:`declare_queues`
turns that refusal into :class:`QueueTypeMismatch`, one line naming the queue
and the setting, instead of a reconnect loop.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable
from typing import Any

from engine.broker.admin import admin_connection
from engine.broker.connection import AsyncChannel, ChannelLost
from engine.broker.dead_queue import PRECONDITION_FAILED, dead_letter_arguments
from engine.broker.names import MAX_PRIORITY, Names
from engine.config import Settings
from engine.errors import ConfigError

WORK_QUEUE_ARGUMENTS: dict[str, Any] = {
    "x-queue-type": "classic",
    "x-max-priority": MAX_PRIORITY,
}
"""Classic queues, because only they order by priority; explicit, so a server whose
default queue type is quorum still gives us what we rely on."""

QUORUM_WORK_QUEUE_ARGUMENTS: dict[str, Any] = {"x-queue-type": "quorum"}
"""Quorum queues: replicated, no priorities (one queue per level instead)."""

_INEQUIVALENT = re.compile(
    r"inequivalent arg '(?P<arg>[^']*)' for queue '(?P<queue>[^']*)'"
    r"(?:.*current is '(?P<current>[^']*)')?"
)
CLASSIC_ONLY_ARGUMENTS = frozenset({"x-max-priority"})
"""Arguments only our classic queues carry: refused for one means it is a classic queue."""


class QueueTypeMismatch(ConfigError):
    """A queue exists on the broker with the other queue type than ``queue_type``."""


def work_queue_arguments(names: Names) -> dict[str, Any]:
    """The arguments every work queue of ``names``' queue type is declared with."""
    return dict(QUORUM_WORK_QUEUE_ARGUMENTS if names.quorum else WORK_QUEUE_ARGUMENTS)


def type_mismatch(exc: ChannelLost, names: Names) -> QueueTypeMismatch | None:
    """The one-line error a refused declaration stands for, if the refusal says the queue
    has the other type: RabbitMQ names the queue and the first argument that differs
    (``x-queue-type``, or ``x-max-priority`` when a classic queue is declared as quorum)."""
    if exc.reply_code != PRECONDITION_FAILED:
        return None
    found = _INEQUIVALENT.search(str(exc.reason))
    if found is None:
        return None
    if found["arg"] == "x-queue-type" and found["current"]:
        current = found["current"]
    elif found["arg"] in CLASSIC_ONLY_ARGUMENTS and names.quorum:
        current = "classic"
    else:
        return None
    return QueueTypeMismatch(
        f"RabbitMQ queue {found['queue']!r} exists as a {current} queue but queue_type is "
        f"{names.queue_type} (QUEUECONSOLE_QUEUE_TYPE or queue_type in the config file): "
        f"set queue_type = {current!r}, or drain and delete the namespace's queues first"
    )


async def declare_work_exchange(channel: AsyncChannel, names: Names) -> None:
    """The direct exchange jobs are published to (routing key = engine queue)."""
    await channel.exchange_declare(names.work_exchange, "direct", durable=True)


async def declare_queues(channel: AsyncChannel, names: Names, queues: Iterable[str]) -> None:
    """The work exchange and, per engine queue, its durable priority queue and binding
    (quorum: one queue and binding per priority level). Raises :class:`QueueTypeMismatch`
    when a queue exists with the other type."""
    await declare_work_exchange(channel, names)
    wanted = [
        (names.level_queue(q, level), names.routing_key(q, level))
        for q in dict.fromkeys(queues)
        for level in names.levels()
    ]
    arguments = work_queue_arguments(names)
    # pika sends one RPC at a time per channel and queues the rest, so issuing them
    # together costs no extra round trips and saves an await per declaration.
    try:
        await asyncio.gather(
            *(
                channel.queue_declare(queue, durable=True, arguments=dict(arguments))
                for queue, _ in wanted
            )
        )
    except ChannelLost as exc:
        mismatch = type_mismatch(exc, names)
        if mismatch is not None:
            raise mismatch from None
        raise
    await asyncio.gather(
        *(channel.queue_bind(queue, names.work_exchange, routing_key=key) for queue, key in wanted)
    )


async def declare_dead_letter(
    channel: AsyncChannel, names: Names, arguments: dict[str, Any] | None = None
) -> None:
    """The fanout dead-letter exchange and the durable queue that keeps its copies,
    bounded by ``arguments`` (the default settings' bounds when not given)."""
    if arguments is None:
        arguments = dead_letter_arguments(Settings(queue_type=names.queue_type))
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


async def check_queue_type(settings: Settings, queues: Iterable[str]) -> None:
    """Declare these engine queues now, so an installation whose queues have the other
    type stops at start-up with :class:`QueueTypeMismatch` rather than in every worker.
    Raises :class:`~engine.errors.ServiceUnavailable` when the broker is unreachable."""
    wanted = list(dict.fromkeys(queues))
    if not wanted:
        return
    async with admin_connection(settings, "declare") as connection:
        channel = await connection.channel()
        try:
            await declare_queues(channel, Names.of(settings), wanted)
        except ChannelLost as exc:
            raise connection.unavailable(exc.reason) from None
        finally:
            await channel.close()
