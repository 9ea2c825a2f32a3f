"""The control bus: JSON commands fanned out to every supervisor and worker.

Commands are instructions for whoever is listening *now* (``scale``,
``recycle``, ``stop_job``): each subscriber has an exclusive, auto-delete,
server-named queue, so a process that is down misses them, and one that
comes back after a broker restart listens again on a fresh queue. What must
not be missed lives in the database, not here.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from pika.channel import Channel
from pika.spec import Basic, BasicProperties

from engine.broker.confirms import Outgoing
from engine.broker.connection import BrokerConnection, ChannelLost, default_name
from engine.broker.messages import CONTENT_TYPE, EXCERPT_CHARS
from engine.broker.names import Names
from engine.broker.outbound import OutboundLink
from engine.broker.reconnect import KeptConnection
from engine.broker.topology import declare_control
from engine.config import Settings

log = logging.getLogger(__name__)

MAX_IN_FLIGHT = 100  # control commands are few; the window only bounds a burst

OnCommand = Callable[[dict[str, Any]], Awaitable[None]]


class ControlBus:
    """Publish commands to, and receive commands from, one namespace's control exchange."""

    def __init__(self, settings: Settings, *, name: str | None = None) -> None:
        self.settings = settings
        self.names = Names.of(settings)
        self.name = name or default_name(settings, "control")
        self._outbound = OutboundLink(
            settings, self.name + ":out", MAX_IN_FLIGHT, on_new_channel=self._forget_exchange
        )
        self._exchange_declared = False
        self._callbacks: list[OnCommand] = []
        self._inbound: KeptConnection | None = None
        self._inbox: asyncio.Queue[bytes] = asyncio.Queue()
        self._dispatcher: asyncio.Task[None] | None = None

    @property
    def connected(self) -> bool:
        """True while the subscription is connected (False before :meth:`subscribe`)."""
        return self._inbound is not None and self._inbound.connected

    @property
    def reconnects(self) -> int:
        """How many times the subscription was re-established after a loss."""
        return 0 if self._inbound is None else self._inbound.reconnects

    async def wait_connected(self) -> None:
        """Return once the subscription listens (immediately if it does now)."""
        if self._inbound is None:
            raise RuntimeError("subscribe() first")
        await self._inbound.wait_connected()

    async def wait_reconnects(self, count: int) -> None:
        """Return once the subscription has been re-established ``count`` times in all."""
        if self._inbound is None:
            raise RuntimeError("subscribe() first")
        await self._inbound.wait_reconnects(count)

    async def publish(self, command: Mapping[str, object]) -> None:
        """Send ``command`` as JSON to every subscriber; returns once the broker has it.

        Raises :class:`~engine.errors.ServiceUnavailable` when the broker is
        unreachable, and ``TypeError`` for a command that is not JSON-serialisable.
        """
        body = json.dumps(dict(command), separators=(",", ":")).encode()
        channel = await self._outbound.channel()
        if not self._exchange_declared:
            try:
                await declare_control(channel.channel, self.names)
            except ChannelLost as exc:
                raise channel.connection.unavailable(exc.reason) from None
            self._exchange_declared = True
        properties = BasicProperties(content_type=CONTENT_TYPE)
        await channel.send(
            [Outgoing(self.names.control_exchange, "", body, properties)], mandatory=False
        )

    async def subscribe(self, callback: OnCommand) -> None:
        """Call ``callback(command)`` for every command published from now on.

        The first call connects and returns once listening (raises
        :class:`~engine.errors.ServiceUnavailable` if the broker cannot be
        reached); later calls add callbacks to the same subscription. Callbacks
        run one command at a time, in order; one that raises is logged.
        """
        self._callbacks.append(callback)
        if self._inbound is not None:
            return
        self._inbound = KeptConnection(self.settings, self.name + ":in", self._setup)
        self._dispatcher = asyncio.create_task(self._dispatch(), name=f"broker-control:{self.name}")
        try:
            await self._inbound.start()
        except BaseException:
            self._inbound = None
            self._callbacks.remove(callback)
            self._dispatcher.cancel()
            await asyncio.gather(self._dispatcher, return_exceptions=True)
            self._dispatcher = None
            raise

    async def close(self) -> None:
        """Stop listening and close both connections."""
        if self._inbound is not None:
            await self._inbound.stop()
        if self._dispatcher is not None:
            self._dispatcher.cancel()
            await asyncio.gather(self._dispatcher, return_exceptions=True)
            self._dispatcher = None
        await self._outbound.close()

    def _forget_exchange(self) -> None:
        self._exchange_declared = False

    async def _setup(self, connection: BrokerConnection) -> None:
        """Run on every new subscription connection: a fresh queue bound to the exchange."""
        channel = await connection.channel()
        await declare_control(channel, self.names)
        declared = await channel.queue_declare("", durable=False, exclusive=True, auto_delete=True)
        await channel.queue_bind(declared.method.queue, self.names.control_exchange, routing_key="")
        await channel.basic_consume(declared.method.queue, self._on_message, auto_ack=True)
        # The broker may close just the channel or cancel the consumer (its queue deleted
        # by an operator); either way, start over on a fresh connection.
        channel.add_close_listener(lambda _reason: self._restart(connection))
        channel.raw.add_on_cancel_callback(lambda _frame: self._restart(connection))

    def _restart(self, connection: BrokerConnection) -> None:
        inbound = self._inbound
        if inbound is not None and inbound.connection is connection and connection.is_open:
            log.warning("control subscription %s lost its queue; resubscribing", self.name)
            inbound.drop()

    def _on_message(
        self, _channel: Channel, _method: Basic.Deliver, _properties: BasicProperties, body: bytes
    ) -> None:
        self._inbox.put_nowait(body)

    async def _dispatch(self) -> None:
        while True:
            body = await self._inbox.get()
            try:
                command = json.loads(body)
            except (ValueError, RecursionError) as exc:
                log.warning(
                    "ignoring a control message that is not JSON (%s): %r",
                    exc,
                    body[:EXCERPT_CHARS],
                )
                continue
            if not isinstance(command, dict):
                log.warning("ignoring a control message that is not a JSON object: %r", command)
                continue
            for callback in list(self._callbacks):
                try:
                    await callback(command)
                except Exception:
                    log.exception("control command handler %r failed on %r", callback, command)
