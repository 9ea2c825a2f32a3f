"""The connection a publisher opens lazily and re-opens after a loss, failing fast meanwhile.

Publishers sit on the commit path, so they must not wait the connect timeout
on every commit while the broker is down: after a failed attempt, calls fail
at once until a backoff runs out, then one call tries again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from engine.broker.confirms import ConfirmedChannel
from engine.broker.connection import SERVICE, BrokerConnection, ChannelLost, connect
from engine.broker.reconnect import Backoff
from engine.config import Settings, mask_url
from engine.errors import ServiceUnavailable

RETRY_MIN_DELAY_S = 1.0  # seconds of failing fast after the first failed connect
RETRY_MAX_DELAY_S = 15.0  # seconds: the longest a reachable-again broker goes unused


class OutboundLink:
    """One lazily opened connection with one confirm channel."""

    def __init__(
        self,
        settings: Settings,
        name: str,
        max_in_flight: int,
        *,
        on_new_channel: Callable[[], None] | None = None,
    ) -> None:
        self.settings = settings
        self.name = name
        self.max_in_flight = max_in_flight
        self._on_new_channel = on_new_channel
        self._connection: BrokerConnection | None = None
        self._channel: ConfirmedChannel | None = None
        self._lock = asyncio.Lock()
        self._backoff = Backoff(RETRY_MIN_DELAY_S, RETRY_MAX_DELAY_S)
        self._retry_at = 0.0
        self._last_failure = ""
        self._closed = False

    def retry_now(self) -> None:
        """Forget the backoff: the next call tries to connect whatever happened before."""
        self._retry_at = 0.0

    async def channel(self) -> ConfirmedChannel:
        """The open confirm channel, connecting or re-opening it if needed.

        Raises :class:`~engine.errors.ServiceUnavailable` if that fails, or at
        once while the backoff after an earlier failure runs.
        """
        channel = self._channel
        if channel is not None and channel.is_open:
            return channel
        async with self._lock:
            channel = self._channel
            if channel is not None and channel.is_open:
                return channel
            if self._closed:
                raise self.unavailable("closed by this process")
            wait = self._retry_at - time.monotonic()
            if wait > 0:
                raise self.unavailable(f"{self._last_failure} (next attempt in {wait:.1f} s)")
            try:
                connection = self._connection
                if connection is None or not connection.is_open:
                    connection = self._connection = await connect(self.settings, self.name)
                try:
                    channel = await ConfirmedChannel.open(connection, self.max_in_flight)
                except ChannelLost as exc:
                    raise connection.unavailable(exc.reason) from None
            except ServiceUnavailable as exc:
                self._last_failure = exc.reason
                self._retry_at = time.monotonic() + self._backoff.next_delay()
                raise
            self._backoff.reset()
            self._retry_at = 0.0
            if self._on_new_channel is not None:
                self._on_new_channel()
            self._channel = channel
            return channel

    async def close(self) -> None:
        """Close the connection; later calls raise ServiceUnavailable."""
        self._closed = True
        async with self._lock:
            connection, self._connection, self._channel = self._connection, None, None
        if connection is not None:
            await connection.close()

    def unavailable(self, reason: str) -> ServiceUnavailable:
        """The error for this link's broker, password masked."""
        return ServiceUnavailable(
            SERVICE, mask_url(self.settings.amqp_url), self.settings.redact(reason)
        )
