"""One-off broker operations: purging queues, removing a namespace's topology.

Used by tests, benchmarks and the chaos harness (and an operator wiping a
test installation). Each call opens its own short-lived connection.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from functools import partial
from typing import TypeVar

from engine.broker.connection import (
    AsyncChannel,
    BrokerConnection,
    ChannelLost,
    connect,
    default_name,
)
from engine.broker.names import Names
from engine.config import Settings

NOT_FOUND = 404  # AMQP reply code: the queue or exchange does not exist

_T = TypeVar("_T")


@asynccontextmanager
async def admin_connection(
    settings: Settings, role: str = "admin"
) -> AsyncIterator[BrokerConnection]:
    """A connection for a few operations, closed afterwards."""
    connection = await connect(settings, default_name(settings, role))
    try:
        yield connection
    finally:
        await connection.close()


class TolerantChannel:
    """Runs operations for which "does not exist" is an answer, not a failure.

    The broker closes a channel on a 404; this opens another for the next
    operation, so one missing queue does not break the calls after it.
    """

    def __init__(self, connection: BrokerConnection) -> None:
        self.connection = connection
        self._channel: AsyncChannel | None = None

    async def run(self, operation: Callable[[AsyncChannel], Awaitable[_T]], missing: _T) -> _T:
        """``operation(channel)``, or ``missing`` if it hit a 404. Other failures raise
        :class:`~engine.errors.ServiceUnavailable`."""
        try:
            if self._channel is None or not self._channel.is_open:
                self._channel = await self.connection.channel()
            return await operation(self._channel)
        except ChannelLost as exc:
            if exc.reply_code == NOT_FOUND and self.connection.is_open:
                return missing
            raise self.connection.unavailable(exc.reason) from None

    async def close(self) -> None:
        """Close the current channel, if any."""
        if self._channel is not None:
            await self._channel.close()


async def purge(settings: Settings, queues: Sequence[str]) -> dict[str, int]:
    """Drop the ready messages of these engine queues; how many each had (0 if missing)."""
    names = Names.of(settings)
    purged: dict[str, int] = {}
    async with admin_connection(settings, "purge") as connection:
        channel = TolerantChannel(connection)
        for queue in dict.fromkeys(queues):
            purged[queue] = 0
            for broker_name in names.broker_queues(queue):
                purge = partial(AsyncChannel.queue_purge, queue=broker_name)
                purged[queue] += await channel.run(purge, 0)
    return purged


async def delete_namespace(settings: Settings, names: Names, queues: Sequence[str]) -> None:
    """Delete these engine queues, the dead-letter queue and the namespace's exchanges,
    with any messages in them. What does not exist is skipped. Both queue types' names
    go, so a namespace is left empty whichever type it was declared with."""
    quorum = Names(names.namespace, "quorum")
    broker_queues = [
        name for q in dict.fromkeys(queues) for name in [names.queue(q), *quorum.broker_queues(q)]
    ]
    async with admin_connection(settings, "delete") as connection:
        channel = TolerantChannel(connection)
        for queue in [*dict.fromkeys(broker_queues), names.dead_letter_queue]:
            await channel.run(partial(AsyncChannel.queue_delete, queue=queue), None)
        for exchange in (names.work_exchange, names.dead_letter_exchange, names.control_exchange):
            await channel.run(partial(AsyncChannel.exchange_delete, exchange=exchange), None)
        await channel.close()
