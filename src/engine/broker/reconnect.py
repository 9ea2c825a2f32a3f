"""A connection kept open: whenever it is lost, open another and set it up again.

Consumers and control-bus subscribers must outlive a broker restart. The
owner supplies ``setup(connection)`` (declare, qos, consume); it runs on every
new connection. Retries back off exponentially with jitter so that a fleet of
workers does not reconnect in lock step when the broker comes back.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable

from engine.broker.connection import BrokerConnection, ChannelLost, connect, describe
from engine.config import Settings

log = logging.getLogger(__name__)

RECONNECT_MIN_DELAY_S = 0.5  # seconds before the first attempt after a loss
RECONNECT_MAX_DELAY_S = 15.0  # seconds: the longest wait between attempts

Setup = Callable[[BrokerConnection], Awaitable[None]]


class Backoff:
    """Exponential delays between ``low`` and ``high`` seconds, each jittered down by up
    to half so that many clients spread out."""

    def __init__(
        self, low: float = RECONNECT_MIN_DELAY_S, high: float = RECONNECT_MAX_DELAY_S
    ) -> None:
        self.low = low
        self.high = high
        self.failures = 0

    def next_delay(self) -> float:
        """The delay before the next attempt; each call doubles the base delay."""
        base = min(self.high, self.low * 2.0**self.failures)
        self.failures += 1
        return base * random.uniform(0.5, 1.0)

    def reset(self) -> None:
        """Start again from the shortest delay (after a success)."""
        self.failures = 0


class KeptConnection:
    """One named connection, re-opened and set up again after every loss."""

    def __init__(
        self,
        settings: Settings,
        name: str,
        setup: Setup,
        *,
        on_lost: Callable[[], None] | None = None,
    ) -> None:
        self.settings = settings
        self.name = name
        self._setup = setup
        self._on_lost = on_lost
        self.connection: BrokerConnection | None = None
        self.reconnects = 0
        """How many times the connection was re-established after a loss."""
        self._connected = asyncio.Event()
        self._reconnected = asyncio.Condition()
        self._stopping = False
        self._watcher: asyncio.Task[None] | None = None

    @property
    def connected(self) -> bool:
        """True while a connection is open and set up."""
        return self._connected.is_set()

    async def wait_connected(self) -> None:
        """Return once connected (immediately if connected now)."""
        await self._connected.wait()

    async def wait_reconnects(self, count: int) -> None:
        """Return once the connection has been re-established ``count`` times in all
        (for tests and chaos drills that break the connection on purpose)."""
        async with self._reconnected:
            await self._reconnected.wait_for(lambda: self.reconnects >= count)

    async def start(self) -> None:
        """Connect and set up once; raises :class:`~engine.errors.ServiceUnavailable`
        if that fails. Afterwards, losses are repaired in the background."""
        self._stopping = False
        self.connection = await self._open()
        self._connected.set()
        self._watcher = asyncio.create_task(self._watch(), name=f"broker-reconnect:{self.name}")

    def drop(self) -> None:
        """Close the current connection so that a fresh one is set up (for a channel the
        broker closed under us, or a consumer it cancelled)."""
        connection = self.connection
        if connection is not None and connection.is_open and not self._stopping:
            connection.raw.close(reply_code=200, reply_text="reconnecting")

    async def stop(self) -> None:
        """Stop repairing and close the connection."""
        self._stopping = True
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.cancel()
            # gather reports the watcher's cancellation as a result but still lets our
            # own cancellation through
            await asyncio.gather(watcher, return_exceptions=True)
        self._connected.clear()
        if self.connection is not None:
            await self.connection.close()

    async def _open(self) -> BrokerConnection:
        connection = await connect(self.settings, self.name)
        try:
            await self._setup(connection)
        except ChannelLost as exc:
            await connection.close()
            raise connection.unavailable(exc.reason) from None
        except BaseException:
            await connection.close()
            raise
        return connection

    async def _watch(self) -> None:
        backoff = Backoff()
        while True:
            assert self.connection is not None
            reason = await self.connection.wait_closed()
            self._connected.clear()
            if self._stopping:
                return
            log.warning(
                "RabbitMQ connection %s lost (%s); reconnecting", self.name, describe(reason)
            )
            if self._on_lost is not None:
                self._on_lost()
            backoff.reset()
            while True:
                await asyncio.sleep(backoff.next_delay())
                try:
                    self.connection = await self._open()
                except Exception as exc:  # ServiceUnavailable or a refused declaration
                    log.info("RabbitMQ connection %s: retry failed: %s", self.name, exc)
                    continue
                break
            self.reconnects += 1
            self._connected.set()
            async with self._reconnected:
                self._reconnected.notify_all()
            log.info("RabbitMQ connection %s re-established", self.name)
