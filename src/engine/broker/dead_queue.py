"""The dead-letter queue ``NS.dead``: its bounds, reading it, changing its bounds.

RabbitMQ cannot delete one message out of a queue, nor change the arguments of a
queue that exists (a declaration with other arguments is refused with 406). So:

- **Bounds** are queue arguments (``x-max-length``, ``x-message-ttl``, overflow
  ``drop-head``): they hold without the management plugin, which policies would
  need. New bounds are applied by :func:`rebound`, which moves the copies into a
  holding queue, declares ``NS.dead`` again with the new arguments and moves them
  back, each keeping what is left of its age (per-message expiration).
- **Reading** is :func:`browse`: every copy is delivered to us, unacknowledged;
  the caller decides which copies go (acked: gone) and the rest are requeued.
  RabbitMQ puts a requeued message of a classic queue back where it was, with its
  original expiry, so a browse changes neither the order nor the ages.

Who may browse, and when, is decided above this module (``engine.maintenance.
dead_letters`` holds a lease in PostgreSQL, so only one browse runs at a time and
each sees the whole queue).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pika.channel import Channel
from pika.spec import Basic, BasicProperties

from engine.broker.confirms import ConfirmedChannel, Outgoing
from engine.broker.connection import AsyncChannel, BrokerConnection, ChannelLost
from engine.broker.names import Names
from engine.config import Settings
from engine.durations import parse_duration

NOT_FOUND = 404  # AMQP reply code: no such queue
PRECONDITION_FAILED = 406  # AMQP reply code: the queue exists with other arguments
BROWSE_IDLE_S = 1.0  # seconds without a delivery after which a browse has seen all it will
MOVE_BATCH = 500  # copies republished (and confirmed) per batch while moving a queue
REQUEUE_WAIT_S = 60.0  # seconds a settle waits for the broker to show requeued copies ready
REQUEUE_POLL_S = 0.05  # seconds between its checks

HEADER_FAILED_AT = "failed_at"
"""ISO 8601 instant of the failure a copy records (``jobs.finished_at``): with the job
id, what identifies the copy when the same job fails again after a retry."""


def dead_letter_arguments(settings: Settings) -> dict[str, Any]:
    """The queue arguments the configured bounds stand for."""
    age = parse_duration(settings.dead_letter_max_age, "dead_letter_max_age")
    return {
        "x-queue-type": settings.queue_type,
        "x-max-length": settings.dead_letter_max_length,
        "x-message-ttl": int(age.total_seconds() * 1000),
        "x-overflow": "drop-head",
    }


@dataclass(frozen=True, slots=True)
class DeadCopy:
    """One message read from the dead-letter queue; ``job_id`` None: not ours (garbage)."""

    delivery_tag: int
    job_id: int | None
    attempt: int | None
    failed_at: datetime | None


def read_copy(tag: int, properties: BasicProperties) -> DeadCopy:
    """What a copy's headers say; never raises (a copy without our headers is garbage)."""
    headers = properties.headers if isinstance(properties.headers, dict) else {}
    job_id = headers.get("job_id")
    attempt = headers.get("attempt")
    failed_at: datetime | None = None
    raw = headers.get(HEADER_FAILED_AT)
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    if isinstance(raw, str):
        with contextlib.suppress(ValueError):
            failed_at = datetime.fromisoformat(raw)
    if isinstance(job_id, bool) or not isinstance(job_id, int) or not 0 < job_id < 2**63:
        return DeadCopy(tag, None, None, None)
    if isinstance(attempt, bool) or not isinstance(attempt, int):
        attempt = None
    return DeadCopy(tag, job_id, attempt, failed_at)


async def _open(connection: BrokerConnection) -> AsyncChannel:
    try:
        return await connection.channel()
    except ChannelLost as exc:
        raise connection.unavailable(exc.reason) from None


async def _on_fresh_channel(
    connection: BrokerConnection, operation: Callable[[AsyncChannel], Awaitable[Any]]
) -> Any:
    """Run one operation on a channel of its own, so a refusal (404, 406) closes only it.
    Raises :class:`ChannelLost` for a refusal, ServiceUnavailable for a lost connection."""
    channel = await _open(connection)
    try:
        return await operation(channel)
    except ChannelLost as exc:
        if exc.reply_code is None or not connection.is_open:
            raise connection.unavailable(exc.reason) from None
        raise
    finally:
        await channel.close()


class BoundsMismatch(Exception):
    """``NS.dead`` exists with other arguments than the configured bounds: see :func:`rebound`."""


async def declare_exchange(connection: BrokerConnection, names: Names) -> None:
    """The fanout dead-letter exchange (no arguments, so never refused)."""
    await _on_fresh_channel(
        connection,
        lambda ch: ch.exchange_declare(names.dead_letter_exchange, "fanout", durable=True),
    )


async def ensure_exists(
    connection: BrokerConnection, names: Names, arguments: dict[str, Any]
) -> None:
    """The exchange, ``NS.dead`` and their binding, for a publisher: a missing queue is
    declared with ``arguments``; one that exists with other bounds is used as it is
    (applying new bounds is :func:`apply_bounds`'s job, under the sweep lease)."""
    await declare_exchange(connection, names)
    try:
        await _declare_queue(connection, names.dead_letter_queue, arguments)
    except ChannelLost as exc:
        if exc.reply_code != PRECONDITION_FAILED:
            raise connection.unavailable(exc.reason) from None
    await _bind(connection, names.dead_letter_queue, names)


async def apply_bounds(
    connection: BrokerConnection, names: Names, arguments: dict[str, Any]
) -> None:
    """Declare ``NS.dead`` with ``arguments``; :class:`BoundsMismatch` when it exists
    with others (RabbitMQ refuses to change them in place)."""
    await declare_exchange(connection, names)
    try:
        await _declare_queue(connection, names.dead_letter_queue, arguments)
    except ChannelLost as exc:
        if exc.reply_code == PRECONDITION_FAILED:
            raise BoundsMismatch(str(exc)) from None
        raise connection.unavailable(exc.reason) from None
    await _bind(connection, names.dead_letter_queue, names)


async def _declare_queue(
    connection: BrokerConnection, queue: str, arguments: dict[str, Any]
) -> int:
    frame = await _on_fresh_channel(
        connection, lambda ch: ch.queue_declare(queue, durable=True, arguments=dict(arguments))
    )
    return int(frame.method.message_count)


async def _bind(connection: BrokerConnection, queue: str, names: Names) -> None:
    await _on_fresh_channel(
        connection, lambda ch: ch.queue_bind(queue, names.dead_letter_exchange, routing_key="")
    )


async def _unbind(connection: BrokerConnection, queue: str, names: Names) -> None:
    await _on_fresh_channel(
        connection,
        lambda ch: ch.call(
            lambda cb: ch.raw.queue_unbind(
                queue, names.dead_letter_exchange, routing_key="", callback=cb
            )
        ),
    )


async def message_count(connection: BrokerConnection, queue: str) -> int | None:
    """Ready messages in ``queue``; None when it does not exist."""
    try:
        frame = await _on_fresh_channel(
            connection, lambda ch: ch.queue_declare(queue, passive=True)
        )
    except ChannelLost as exc:
        if exc.reply_code == NOT_FOUND:
            return None
        raise connection.unavailable(exc.reason) from None
    return int(frame.method.message_count)


@dataclass(slots=True)
class Browse:
    """Every copy a browse received, held unacknowledged until :meth:`settle`."""

    connection: BrokerConnection
    queue: str
    channel: AsyncChannel
    copies: list[DeadCopy] = field(default_factory=list)
    properties: dict[int, tuple[bytes, BasicProperties]] = field(default_factory=dict)
    """Body and properties by delivery tag, when the browse was asked to keep them."""

    async def settle(self, remove: Sequence[int]) -> None:
        """Ack (remove) the copies with these delivery tags, requeue every other one, and
        return once the broker shows them ready again.

        Requeueing is asynchronous in the broker: a passive declare right after it
        can count none of them, and a browse that follows at once would see an
        empty queue. Waiting here (bounded by :data:`REQUEUE_WAIT_S`; a consumer
        outside the engine may take some meanwhile) keeps the next browse whole.
        """
        raw = self.channel.raw
        if not raw.is_open:
            raise ChannelLost(self.channel.close_reason)
        removing = set(remove)
        for tag in sorted(removing):
            raw.basic_ack(delivery_tag=tag)
        kept = len(self.copies) - len(removing)
        if kept > 0:
            raw.basic_nack(delivery_tag=0, multiple=True, requeue=True)
        await self.channel.close()
        if kept <= 0:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + REQUEUE_WAIT_S
        while loop.time() < deadline:
            ready = await message_count(self.connection, self.queue)
            if ready is None or ready >= kept:
                return
            await asyncio.sleep(REQUEUE_POLL_S)


async def browse(
    connection: BrokerConnection, queue: str, *, keep_messages: bool = False
) -> Browse | None:
    """Receive every message ``queue`` holds now, unacknowledged; None when it is missing.

    Stops once as many arrived as the queue held when the browse began, or after
    :data:`BROWSE_IDLE_S` without a delivery (a copy dropped or taken meanwhile).
    The caller must :meth:`Browse.settle` (or close the channel: all are requeued).
    """
    expected = await message_count(connection, queue)
    if expected is None:
        return None
    channel = await _open(connection)
    result = Browse(connection, queue, channel)
    if expected == 0:
        return result
    arrived = asyncio.Event()
    last_arrival = [time.monotonic()]

    def on_message(
        _ch: Channel, method: Basic.Deliver, properties: BasicProperties, body: bytes
    ) -> None:
        tag = int(method.delivery_tag or 0)
        result.copies.append(read_copy(tag, properties))
        if keep_messages:
            result.properties[tag] = (body, properties)
        last_arrival[0] = time.monotonic()
        if len(result.copies) >= expected:
            arrived.set()

    try:
        await channel.basic_qos(0)  # no limit: every copy stays with us until settled
        tag = await channel.basic_consume(queue, on_message)
        while not arrived.is_set():
            idle = time.monotonic() - last_arrival[0]
            if idle >= BROWSE_IDLE_S:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(arrived.wait(), BROWSE_IDLE_S - idle)
        await channel.basic_cancel(tag)
    except ChannelLost as exc:
        await channel.close()
        raise connection.unavailable(exc.reason) from None
    return result


def remaining_expiration(
    failed_at: datetime | None, ttl_ms: int, now: datetime | None = None
) -> str | None:
    """A moved copy's per-message expiration: what its age leaves of the queue TTL (ms,
    as AMQP wants it, a string); ``"0"`` when it is already past. None: unknown age."""
    if failed_at is None:
        return None
    now = now or datetime.now(UTC)
    left = ttl_ms - int((now - failed_at).total_seconds() * 1000)
    return str(max(left, 0))


async def _move(connection: BrokerConnection, source: str, target: str, ttl_ms: int | None) -> int:
    """Move every copy of ``source`` into ``target``, in order, confirmed before acked."""
    moved = 0
    while True:
        found = await browse(connection, source, keep_messages=True)
        if found is None or not found.copies:
            if found is not None:
                await found.channel.close()
            return moved
        confirmed = await ConfirmedChannel.open(connection, MOVE_BATCH * 2)
        try:
            outgoing = []
            for copy in found.copies:
                body, properties = found.properties[copy.delivery_tag]
                if ttl_ms is not None:
                    expiration = remaining_expiration(copy.failed_at, ttl_ms)
                    if expiration is not None:
                        properties.expiration = expiration
                outgoing.append(Outgoing("", target, body, properties))
            for start in range(0, len(outgoing), MOVE_BATCH):
                await confirmed.send(outgoing[start : start + MOVE_BATCH])
        finally:
            await confirmed.channel.close()
        await found.settle([c.delivery_tag for c in found.copies])
        moved += len(found.copies)


async def rebound(connection: BrokerConnection, names: Names, arguments: dict[str, Any]) -> int:
    """Give ``NS.dead`` new bounds, keeping its copies (those the new bounds allow).

    The copies wait in ``NS.dead.rebound`` (bound to the exchange too, so copies
    published meanwhile are not lost) while ``NS.dead`` is deleted and declared
    again; then they move back, oldest first, so ``drop-head`` keeps the newest,
    each with the rest of its age. The caller must be the only one doing this
    (and browsing): a crash in between leaves the holding queue, which the next
    call empties into ``NS.dead`` first. Returns the copies moved back.
    """
    holding = names.dead_letter_queue + ".rebound"
    ttl_ms = int(arguments["x-message-ttl"])
    await declare_exchange(connection, names)
    await _declare_queue(connection, holding, {"x-queue-type": arguments["x-queue-type"]})
    await _bind(connection, holding, names)
    if await message_count(connection, names.dead_letter_queue) is not None:
        await _unbind(connection, names.dead_letter_queue, names)
        await _move(connection, names.dead_letter_queue, holding, None)
        await _on_fresh_channel(connection, lambda ch: ch.queue_delete(names.dead_letter_queue))
    await _declare_queue(connection, names.dead_letter_queue, arguments)
    await _bind(connection, names.dead_letter_queue, names)
    await _unbind(connection, holding, names)
    moved = await _move(connection, holding, names.dead_letter_queue, ttl_ms)
    await _on_fresh_channel(connection, lambda ch: ch.queue_delete(holding))
    return moved


def copy_headers(
    job_id: int, attempt: int, queue: str, type: str, reason: str, failed_at: datetime | None
) -> dict[str, Any]:
    """The headers of a dead-letter copy: enough to act on it without the database."""
    headers: dict[str, Any] = {
        "job_id": job_id,
        "attempt": attempt,
        "queue": queue,
        "type": type,
        "reason": reason,
    }
    if failed_at is not None:
        headers[HEADER_FAILED_AT] = failed_at.isoformat()
    return headers
