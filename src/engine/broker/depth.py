"""How many messages wait in each work queue, for the console and the supervisor.

The management HTTP API is preferred because it also knows the *unacked*
count; without the plugin, a passive ``queue.declare`` gives the ready count
and consumers, and ``unacked`` is None (unknown, not zero). A queue that does
not exist yet has nothing in it: zeros. Its 404 closes the AMQP channel, so
the next queue is asked on a fresh one.

Something that polls (the console) should keep a :class:`DepthProbe`, which
keeps its connection; :func:`queue_depths` opens and closes one per call.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from functools import partial

from engine.broker.admin import TolerantChannel, delete_namespace, purge
from engine.broker.connection import AsyncChannel, BrokerConnection, connect, default_name
from engine.broker.management import ManagementApi, ManagementUnavailable, counts
from engine.broker.names import Names
from engine.config import Settings
from engine.snapshots import BrokerDepth

__all__ = ["BrokerDepth", "DepthProbe", "delete_namespace", "purge", "queue_depths"]

log = logging.getLogger(__name__)

MANAGEMENT_RETRY_S = 60.0  # seconds before asking an API that failed once again


EMPTY = BrokerDepth(0, 0, 0)
"""What a queue that does not exist holds."""


class DepthProbe:
    """Asks the broker for queue depths; keeps its connection between calls."""

    def __init__(
        self, settings: Settings, *, name: str | None = None, use_management: bool = True
    ) -> None:
        self.settings = settings
        self.names = Names.of(settings)
        self.name = name or default_name(settings, "depth")
        self._api = ManagementApi.from_amqp_url(settings.amqp_url) if use_management else None
        self._api_retry_at = 0.0
        self._connection: BrokerConnection | None = None
        self._channel: TolerantChannel | None = None
        self._lock = asyncio.Lock()
        self.source = ""
        """Where the last answer came from: ``"management"`` or ``"amqp"``."""

    async def depths(self, queues: Sequence[str]) -> dict[str, BrokerDepth]:
        """Depth of each engine queue (with quorum queues, its levels' sums). Raises
        :class:`~engine.errors.ServiceUnavailable` when neither the management API nor
        AMQP answers."""
        wanted = list(dict.fromkeys(queues))
        levels = {q: self.names.broker_queues(q) for q in wanted}
        broker_names = [name for names in levels.values() for name in names]
        if self._api is not None and time.monotonic() >= self._api_retry_at:
            try:
                stats = await asyncio.to_thread(self._api.fetch_queues, broker_names)
            except ManagementUnavailable as exc:
                log.debug("management API not used: %s", exc)
                self._api_retry_at = time.monotonic() + MANAGEMENT_RETRY_S
            else:
                self.source = "management"
                return {
                    q: combine([BrokerDepth(*counts(stats[name])) for name in levels[q]])
                    for q in wanted
                }
        found = await self._passive(broker_names)
        self.source = "amqp"
        return {q: combine([found[name] for name in levels[q]]) for q in wanted}

    async def close(self) -> None:
        """Close the AMQP connection, if one was opened."""
        async with self._lock:
            connection, self._connection, self._channel = self._connection, None, None
        if connection is not None:
            await connection.close()

    async def _passive(self, broker_names: Sequence[str]) -> dict[str, BrokerDepth]:
        async with self._lock:
            if self._connection is None or not self._connection.is_open or self._channel is None:
                self._connection = await connect(self.settings, self.name)
                self._channel = TolerantChannel(self._connection)
            depths: dict[str, BrokerDepth] = {}
            for broker_name in broker_names:
                declared = await self._channel.run(
                    partial(AsyncChannel.queue_declare, queue=broker_name, passive=True), None
                )
                depths[broker_name] = (
                    EMPTY
                    if declared is None
                    else BrokerDepth(
                        int(declared.method.message_count),
                        None,
                        int(declared.method.consumer_count),
                    )
                )
            return depths


def _sum(values: Sequence[int | None]) -> int | None:
    """A total, or None when any part is unknown."""
    total = 0
    for value in values:
        if value is None:
            return None
        total += value
    return total


def combine(levels: Sequence[BrokerDepth]) -> BrokerDepth:
    """One engine queue's depth from its broker queues' (highest level first): messages
    add up; every worker consumes every level, so the top level's consumers count."""
    if len(levels) == 1:
        return levels[0]
    return BrokerDepth(
        _sum([d.ready for d in levels]), _sum([d.unacked for d in levels]), levels[0].consumers
    )


async def queue_depths(settings: Settings, queues: Sequence[str]) -> dict[str, BrokerDepth]:
    """Depth of each engine queue, on a connection opened for this call."""
    probe = DepthProbe(settings)
    try:
        return await probe.depths(queues)
    finally:
        await probe.close()
