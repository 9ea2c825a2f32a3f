"""Publishing with confirms, many messages in flight, from several tasks at once.

Waiting for each confirm before the next publish caps throughput at one
message per network round trip. Instead every message is sent at once (up to
a window of ``max_in_flight`` unconfirmed ones) and each caller waits only for
*its* messages: the broker numbers a confirm channel's publishes 1, 2, 3…,
so we number them the same way and map each number to the caller's batch.
Confirms may cover many numbers at once (``multiple``) and, in principle,
arrive out of order; both are handled.

Nothing here awaits per message: a publish call sends synchronously until the
window is full, then waits for the window once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from typing import Any, NamedTuple, TypeVar

import pika.exceptions
from pika.channel import Channel
from pika.spec import Basic, BasicProperties

from engine.broker.connection import AsyncChannel, BrokerConnection, coalesce_writes

MAX_IN_FLIGHT = 1000  # unconfirmed messages per channel before publishers wait
RESUME_FRACTION = 0.5  # publishing resumes once in-flight falls to this share of the window
CONFIRM_STALL_S = 30.0  # seconds without any confirm while waiting: the connection is dead

_T = TypeVar("_T")


class Outgoing(NamedTuple):
    """One message to publish (a tuple: cheap to build by the thousand)."""

    exchange: str
    routing_key: str
    body: bytes
    properties: BasicProperties


class _Batch:
    """The messages of one ``send`` call and the future its caller awaits."""

    __slots__ = ("future", "nacked", "outstanding", "sealed")

    def __init__(self, future: asyncio.Future[int]) -> None:
        self.future = future
        self.outstanding = 0
        self.nacked = 0
        self.sealed = False

    def settle_if_complete(self) -> None:
        if self.sealed and self.outstanding == 0 and not self.future.done():
            self.future.set_result(self.nacked)


class ConfirmedChannel:
    """A confirm-mode channel that tracks every publish until the broker confirms it."""

    def __init__(
        self, connection: BrokerConnection, channel: AsyncChannel, max_in_flight: int
    ) -> None:
        self.connection = connection
        self.channel = channel
        self.max_in_flight = max_in_flight
        self._resume_at = int(max_in_flight * RESUME_FRACTION)
        self._next_tag = 1
        self._lowest = 1
        self._pending: dict[int, _Batch] = {}
        self._window = asyncio.Event()
        self._window.set()
        self._lost = False
        self._lost_reason: BaseException | None = None
        self._confirmed = 0
        self.returned: set[str] = set()
        """Message ids the broker returned as unroutable (no queue bound), not yet claimed."""

    @classmethod
    async def open(cls, connection: BrokerConnection, max_in_flight: int) -> ConfirmedChannel:
        """A new channel on ``connection`` in confirm mode."""
        channel = await connection.channel()
        confirmed = cls(connection, channel, max_in_flight)
        await channel.confirm_delivery(confirmed._on_confirm)
        channel.raw.add_on_return_callback(confirmed._on_return)
        channel.add_close_listener(confirmed._on_closed)
        return confirmed

    @property
    def is_open(self) -> bool:
        """True while publishes can be sent."""
        return not self._lost and self.channel.is_open

    @property
    def in_flight(self) -> int:
        """Messages sent and not yet confirmed."""
        return len(self._pending)

    async def send(self, messages: Sequence[Outgoing], *, mandatory: bool = True) -> None:
        """Publish every message and return once the broker confirmed all of them.

        Raises :class:`~engine.errors.ServiceUnavailable` if the broker nacks
        any, or the channel or connection is lost before all are confirmed
        (some may have arrived: publishing is at-least-once, not exactly-once).
        With ``mandatory``, unroutable messages are recorded in
        :attr:`returned` (the broker returns them before confirming them).
        """
        if not messages:
            return
        batch = _Batch(asyncio.get_running_loop().create_future())
        batch.future.add_done_callback(_retrieve)
        publish = self.channel.raw.basic_publish
        pending = self._pending
        limit = self.max_in_flight
        try:
            for message in messages:
                if len(pending) >= limit:
                    coalesce_writes(self.connection)
                    self._window.clear()
                    await self._progressing(self._window.wait())
                if self._lost:
                    raise self.connection.unavailable(self._lost_reason)
                tag = self._next_tag
                publish(
                    message.exchange,
                    message.routing_key,
                    message.body,
                    message.properties,
                    mandatory,
                )
                self._next_tag = tag + 1
                pending[tag] = batch
                batch.outstanding += 1
        except pika.exceptions.AMQPError as exc:
            raise self.connection.unavailable(exc) from None
        coalesce_writes(self.connection)
        batch.sealed = True
        batch.settle_if_complete()
        nacked = await self._progressing(batch.future)
        if nacked:
            raise self.connection.unavailable(
                f"the broker refused {nacked} of {len(messages)} messages (nack)"
            )

    async def _progressing(self, awaitable: Awaitable[_T]) -> _T:
        """Await ``awaitable`` as long as confirms keep arriving.

        A connection can die without a word (a half-open TCP stream); heartbeats
        notice within two intervals, but a committed transaction's caller should
        not wait that long on the broker.
        """
        waiter = asyncio.ensure_future(awaitable)
        try:
            while True:
                seen = self._confirmed
                try:
                    return await asyncio.wait_for(asyncio.shield(waiter), CONFIRM_STALL_S)
                except TimeoutError:
                    if self._confirmed == seen and not waiter.done():
                        stalled = f"no confirm from the broker for {CONFIRM_STALL_S:.0f} s"
                        if self.connection.is_open:
                            self.connection.raw.close(reply_code=200, reply_text=stalled)
                        raise self.connection.unavailable(stalled) from None
        finally:
            if not waiter.done():
                waiter.cancel()

    def _on_confirm(self, frame: Any) -> None:
        self._confirmed += 1
        method = frame.method
        nack = isinstance(method, Basic.Nack)
        tag = int(method.delivery_tag)
        pending = self._pending
        if method.multiple:
            for t in range(self._lowest, tag + 1):
                batch = pending.pop(t, None)
                if batch is not None:
                    _confirm_one(batch, nack)
            self._lowest = max(self._lowest, tag + 1)
        else:
            batch = pending.pop(tag, None)
            if batch is not None:
                _confirm_one(batch, nack)
            while self._lowest < self._next_tag and self._lowest not in pending:
                self._lowest += 1
        if len(pending) <= self._resume_at:
            self._window.set()

    def _on_return(
        self, _channel: Channel, _method: Basic.Return, properties: BasicProperties, _body: bytes
    ) -> None:
        if properties.message_id:
            self.returned.add(properties.message_id)

    def _on_closed(self, reason: BaseException | None) -> None:
        self._lost = True
        self._lost_reason = reason
        pending, self._pending = self._pending, {}
        for batch in set(pending.values()):
            if not batch.future.done():
                batch.future.set_exception(self.connection.unavailable(reason))
        self._window.set()  # wake waiters so they see the failure


def _confirm_one(batch: _Batch, nack: bool) -> None:
    batch.outstanding -= 1
    if nack:
        batch.nacked += 1
    batch.settle_if_complete()


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Mark a batch's exception retrieved: its caller may have been cancelled meanwhile."""
    if not future.cancelled():
        future.exception()
