"""Consuming work messages in batches, with manual ack, across broker restarts.

Messages that arrive together (pika parses everything one socket read
brought in before our code runs again) are handed over as one batch, so a
worker can claim them with one SQL statement. ``on_batch`` calls never
overlap; while one runs, new messages wait in a buffer for the next.

Delivery tags handed out are this consumer's own: the AMQP tag of the
channel plus the channel's generation in the high bits. A reconnect starts a
new channel whose AMQP tags restart at 1, and acking an old number there
would acknowledge a different message (or make the broker close the
channel); with generations an ack for a dead channel is recognised and
dropped. RabbitMQ redelivers whatever that channel held unacked.

Quorum queues (``queue_type = "quorum"``) have no priorities, so an engine
queue is one broker queue per level, each with a consumer here; the buffer is
handed over highest level first. A batch that would hand over a lower-level
delivery first asks the higher levels that may hold more (``engine.broker.
levels``) with ``basic.get``, then makes one more round trip on the channel
(a passive declare): RabbitMQ answers it after the deliveries our earlier
acks released, which may still have been on their way. Fetched messages go
after those in their level, so each level stays first in, first out. The
order is then a classic priority queue's. Quorum queues refuse a channel-wide
prefetch (``global`` ``basic.qos``), so :meth:`Consumer.set_limit` starts the
consumers again with the new per-consumer limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any, cast

import pika.exceptions
from pika.channel import Channel
from pika.spec import Basic, BasicProperties

from engine.broker.acks import plan_acks
from engine.broker.connection import AsyncChannel, BrokerConnection, ChannelLost, default_name
from engine.broker.levels import LevelAccount
from engine.broker.messages import Delivery, Garbage, decode
from engine.broker.names import Names
from engine.broker.reconnect import KeptConnection
from engine.broker.topology import declare_queues
from engine.config import Settings

log = logging.getLogger(__name__)

TAG_BITS = 40
"""Low bits of a handed-out delivery tag that hold the AMQP tag; a channel would need
a trillion deliveries to overflow them."""
TAG_MASK = (1 << TAG_BITS) - 1

STOP_GRACE_S = 5.0  # seconds a batch being handled may take to finish once stop() is called

__all__ = ["Consumer", "Delivery", "Garbage", "OnBatch"]

OnBatch = Callable[[list[Delivery | Garbage]], Awaitable[None]]


class Consumer:
    """Consumes the work queues of ``queues`` and hands deliveries to ``on_batch``.

    ``prefetch`` is RabbitMQ's per-consumer limit (``basic_qos``), so a
    consumer of several queues may hold ``prefetch`` unacked messages from
    each; a batch holds at most ``prefetch`` deliveries. ``limit`` caps the whole
    channel below that (RabbitMQ's channel-wide ``basic.qos``), and
    :meth:`set_limit` changes it while consuming.
    """

    def __init__(
        self,
        settings: Settings,
        queues: Sequence[str],
        prefetch: int,
        on_batch: OnBatch,
        *,
        name: str | None = None,
        limit: int | None = None,
    ) -> None:
        if not queues:
            raise ValueError("a consumer needs at least one queue")
        if prefetch < 1:
            raise ValueError(f"prefetch must be at least 1, not {prefetch}")
        self.settings = settings
        self.names = Names.of(settings)
        self.queues = tuple(dict.fromkeys(queues))
        self.prefetch = prefetch
        self.limit = prefetch if limit is None else max(1, min(limit, prefetch))
        """Unacked deliveries allowed on the channel, all queues together (<= prefetch)."""
        self.name = name or default_name(settings, "consumer")
        self._on_batch = on_batch
        self._link = KeptConnection(settings, self.name, self._setup, on_lost=self._on_lost)
        self._channel: AsyncChannel | None = None
        self._generation = 0
        self._outstanding: set[int] = set()
        self._consumer_tags: list[str] = []
        self._buffer: list[Delivery | Garbage] = []
        self._levels = LevelAccount(self.limit)
        """Quorum queues: the level of each unsettled delivery of the live channel."""
        self._wakeup = asyncio.Event()
        self._flow = asyncio.Lock()
        self._paused = False
        self._stopping = False
        self._dispatcher: asyncio.Task[None] | None = None

    @property
    def connected(self) -> bool:
        """True while connected to the broker (consuming unless paused)."""
        return self._link.connected

    @property
    def reconnects(self) -> int:
        """How many times the connection was re-established after a loss."""
        return self._link.reconnects

    @property
    def paused(self) -> bool:
        """True between :meth:`pause` and :meth:`resume`."""
        return self._paused

    async def wait_connected(self) -> None:
        """Return once connected (immediately if connected now)."""
        await self._link.wait_connected()

    async def wait_reconnects(self, count: int) -> None:
        """Return once the connection has been re-established ``count`` times in all."""
        await self._link.wait_reconnects(count)

    async def start(self) -> None:
        """Declare the queues and start consuming.

        Raises :class:`~engine.errors.ServiceUnavailable` if the broker cannot
        be reached now; once started, connection losses are repaired in the
        background.
        """
        self._stopping = False
        self._dispatcher = asyncio.create_task(self._dispatch(), name=f"broker-batches:{self.name}")
        try:
            await self._link.start()
        except BaseException:
            self._dispatcher.cancel()
            await asyncio.gather(self._dispatcher, return_exceptions=True)
            self._dispatcher = None
            raise

    async def ack(self, tags: Sequence[int]) -> None:
        """Acknowledge deliveries (and Garbage). Tags from before a reconnect, or
        acknowledged already, are ignored."""
        self._settle(tags, requeue=None)

    async def nack(self, tags: Sequence[int], *, requeue: bool = True) -> None:
        """Hand deliveries back: requeued for another consumer, or dropped (dead-lettered
        by the queue's policy, if any) with ``requeue=False``."""
        self._settle(tags, requeue=requeue)

    async def pause(self) -> None:
        """Stop receiving (for a graceful drain); deliveries not yet handed to on_batch
        go back to the queue. A batch being handled carries on."""
        async with self._flow:
            self._paused = True
            channel, tags, self._consumer_tags = self._channel, self._consumer_tags, []
            if channel is not None:
                try:
                    for tag in tags:
                        await channel.basic_cancel(tag)
                except ChannelLost:
                    pass  # the connection went: nothing more will arrive anyway
            held = [d.delivery_tag for d in self._buffer]
            self._buffer.clear()
            self._settle(held, requeue=True)

    async def resume(self) -> None:
        """Receive again after :meth:`pause`."""
        async with self._flow:
            self._paused = False
            channel = self._channel
            if channel is not None and channel.is_open and not self._consumer_tags:
                # On ChannelLost the reconnect sets consuming up again, as we are not paused.
                with contextlib.suppress(ChannelLost):
                    await self._consume(channel)

    async def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """Stop consuming, give a batch being handled ``grace_s`` seconds to finish
        (it may still ack), then cancel it and close the connection.

        Unacked deliveries return to their queue when the connection closes.
        """
        self._stopping = True
        try:
            channel, tags, self._consumer_tags = self._channel, self._consumer_tags, []
            if channel is not None:
                with contextlib.suppress(ChannelLost):
                    for tag in tags:
                        await channel.basic_cancel(tag)
            dispatcher = self._dispatcher
            if dispatcher is not None and dispatcher is not asyncio.current_task():
                self._wakeup.set()
                done, _ = await asyncio.wait([dispatcher], timeout=grace_s)
                if not done:
                    log.warning(
                        "%s: a batch was still being handled %.0f s after stop; cancelling it",
                        self.name,
                        grace_s,
                    )
                    dispatcher.cancel()
                    await asyncio.gather(dispatcher, return_exceptions=True)
        finally:
            await self._link.stop()
            self._channel = None

    async def _setup(self, connection: BrokerConnection) -> None:
        """Run on every new connection: declare, limit, consume (unless paused)."""
        channel = await connection.channel()
        await declare_queues(channel, self.names, self.queues)
        if self.names.quorum:
            await channel.basic_qos(self.limit)  # per consumer: no global qos on quorum queues
        else:
            await channel.basic_qos(self.prefetch)
            if self.limit < self.prefetch:
                await channel.basic_qos(self.limit, global_qos=True)
        async with self._flow:
            self._generation += 1
            self._outstanding = set()
            self._levels = LevelAccount(self.limit)
            self._consumer_tags = []
            self._channel = channel
            channel.raw.add_on_cancel_callback(self._on_broker_cancel)
            channel.add_close_listener(partial(self._on_channel_closed, channel))
            if not self._paused:
                await self._consume(channel)

    async def set_limit(self, limit: int) -> None:
        """Cap the unacked deliveries of the whole channel at ``limit`` (at most
        ``prefetch``), on the live channel and after reconnections.

        RabbitMQ applies a per-consumer prefetch only to consumers started after
        it, so a running consumer is tuned through the channel-wide limit
        (``basic.qos`` with ``global``), which takes effect at once. A worker
        lowers it while its jobs are long (so it does not sit on messages another
        worker could start) and raises it while they are short (so one claim
        statement covers many jobs).
        """
        if limit < 1:
            raise ValueError(f"the limit must be at least 1, not {limit}")
        limit = min(limit, self.prefetch)
        if limit == self.limit:
            return
        self.limit = limit
        channel = self._channel
        if channel is None or not channel.is_open:
            return  # the next connection's setup applies it
        try:
            if self.names.quorum:
                await self._resubscribe(channel, limit)
            else:
                await channel.basic_qos(limit, global_qos=True)
        except Exception as exc:  # the channel is closing; its successor applies it
            log.debug("%s: limit %d not applied now: %s", self.name, limit, exc)

    async def _resubscribe(self, channel: AsyncChannel, limit: int) -> None:
        """Quorum queues: a per-consumer limit holds for consumers started after it, so
        cancel ours and start them again (what they hold stays ours to settle)."""
        async with self._flow:
            if channel is not self._channel:
                return
            tags, self._consumer_tags = self._consumer_tags, []
            for tag in tags:
                await channel.basic_cancel(tag)
            await channel.basic_qos(limit)
            self._levels.credit = limit
            if not self._paused:
                await self._consume(channel)

    async def _consume(self, channel: AsyncChannel) -> None:
        base = self._generation << TAG_BITS
        outstanding = self._outstanding
        for level in self.names.levels():  # classic: the one queue, at the top level
            for queue in self.queues:
                callback = partial(self._on_message, queue, level, base, outstanding)
                self._consumer_tags.append(
                    await channel.basic_consume(self.names.level_queue(queue, level), callback)
                )

    def _on_message(
        self,
        queue: str,
        level: int,
        base: int,
        outstanding: set[int],
        _channel: Channel,
        method: Basic.Deliver,
        _properties: BasicProperties,
        body: bytes,
    ) -> None:
        """pika's delivery callback: the hot path, so no awaiting and no logging."""
        tag = cast(int, method.delivery_tag)  # basic.deliver always carries one (AMQP 0-9-1)
        outstanding.add(tag)
        self._buffer.append(decode(body, base + tag, method.redelivered, queue))
        if self.names.quorum:
            self._levels.received(tag, level, pushed=True)
        self._wakeup.set()

    async def _dispatch(self) -> None:
        """Hand buffered deliveries to on_batch, one batch at a time."""
        while not self._stopping:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._buffer and not self._stopping:
                if self.names.quorum:
                    await self._prefer_higher_levels()
                batch = self._buffer[: self.prefetch]
                del self._buffer[: self.prefetch]
                try:
                    await self._on_batch(batch)
                except Exception:
                    # Hand back what the batch did not acknowledge; the log says why once.
                    log.exception("on_batch failed; %d deliveries go back to the queue", len(batch))
                    self._settle([d.delivery_tag for d in batch], requeue=True)

    def _level(self, item: Delivery | Garbage) -> int:
        return self._levels.level(item.delivery_tag & TAG_MASK)

    def _displaceable(self, level: int, extra: Sequence[Delivery | Garbage]) -> int:
        """Places of the next batch that messages below ``level`` would take."""
        size = min(self.prefetch, len(self._buffer) + len(extra))
        at_or_above = sum(1 for i in [*self._buffer, *extra] if self._level(i) >= level)
        return max(0, size - at_or_above)

    async def _prefer_higher_levels(self) -> None:
        """Sort the buffer highest level first; if the next batch would hand over a
        lower-level delivery, first take what the higher levels may still have."""
        self._buffer.sort(key=self._level, reverse=True)  # stable: arrival order per level
        batch = self._buffer[: self.prefetch]
        if not batch:
            return
        lowest = min(self._level(i) for i in batch)
        levels = self._levels.to_check(lowest)
        channel, generation = self._channel, self._generation
        if not levels or channel is None or not channel.is_open or self._paused:
            return
        base, outstanding, account = generation << TAG_BITS, self._outstanding, self._levels
        fetched: list[Delivery | Garbage] = []
        try:
            for level in levels:
                for queue in self.queues:
                    while self._displaceable(level, fetched) > 0:
                        got = await channel.basic_get(self.names.level_queue(queue, level))
                        if got is None:
                            break
                        method, _properties, body = got
                        tag = cast(int, method.delivery_tag)
                        outstanding.add(tag)
                        account.received(tag, level, pushed=False)
                        fetched.append(decode(body, base + tag, method.redelivered, queue))
                        if generation != self._generation or self._paused:
                            self._settle([i.delivery_tag for i in fetched], requeue=True)
                            return
            # The barrier: its reply comes after any delivery the broker had sent us.
            await channel.queue_declare(self.names.queue(self.queues[0]), passive=True)
        except ChannelLost:
            return  # the reconnect sets up again; what the channel held is redelivered
        if generation != self._generation or self._paused:
            self._settle([i.delivery_tag for i in fetched], requeue=True)
            return
        for level in levels:
            account.checked(level)
        self._buffer.extend(fetched)  # after the deliveries that were on their way
        self._buffer.sort(key=self._level, reverse=True)

    def _settle(self, tags: Sequence[int], requeue: bool | None) -> None:
        """Ack (``requeue`` None) or nack the tags that belong to the live channel."""
        channel = self._channel
        if channel is None or not channel.is_open or not tags:
            return
        generation = self._generation
        base = generation << TAG_BITS
        outstanding = self._outstanding
        mine = [t - base for t in tags if t >> TAG_BITS == generation]
        if self.names.quorum:
            self._levels.settled(mine)
        plan = plan_acks(mine, outstanding)
        raw = channel.raw
        try:
            if plan.upto is not None:
                if requeue is None:
                    raw.basic_ack(plan.upto, multiple=True)
                else:
                    raw.basic_nack(plan.upto, multiple=True, requeue=requeue)
                for tag in [t for t in outstanding if t <= plan.upto]:
                    outstanding.discard(tag)
            for tag in plan.singles:
                if requeue is None:
                    raw.basic_ack(tag)
                else:
                    raw.basic_nack(tag, requeue=requeue)
                outstanding.discard(tag)
        except pika.exceptions.AMQPError:
            pass  # the channel just went: the broker redelivers what it held

    def _on_lost(self) -> None:
        """The connection is gone: forget its channel; what it held will be redelivered."""
        self._channel = None
        self._consumer_tags = []
        self._outstanding = set()
        self._buffer.clear()

    def _on_channel_closed(self, channel: AsyncChannel, reason: BaseException | None) -> None:
        if channel is not self._channel or self._stopping:
            return
        connection = self._link.connection
        if connection is not None and connection.is_open:
            # The broker closed only the channel (an unknown tag, consumer_timeout...):
            # start over on a fresh connection, which also redeclares everything.
            log.warning("RabbitMQ closed the channel of %s (%s)", self.name, reason)
            self._link.drop()

    def _on_broker_cancel(self, _frame: Any) -> None:
        if self._stopping:
            return
        log.warning("RabbitMQ cancelled a consumer of %s (queue deleted?); reconnecting", self.name)
        self._link.drop()
