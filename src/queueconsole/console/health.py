"""Service health as the console watches it: the engine's probes, paced and remembered.

The probes themselves are the engine's (:class:`~engine.readapi.reader.StatusReader`).
What is added here is presentation: a service that answered is probed only every few seconds (each
probe is a round trip, and a RabbitMQ probe is a connection the broker logs),
a failed read marks a service down at once, and each service carries the
moment it last changed between up and down, for the banner's "since".
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime

from engine.config import Settings, mask_url
from engine.readapi.reader import StatusReader
from engine.snapshots import ServiceHealth

PROBE_TIMEOUT_S = 2.0  # seconds a health probe may take before its service counts as down
AMQP_PROBE_EVERY_S = 5.0  # seconds between probes of the broker (each one is a connection)
UP_PROBE_EVERY_S = 5.0  # seconds between probes of a service that answered last time

POSTGRESQL, REDIS, RABBITMQ = "postgresql", "redis", "rabbitmq"
SERVICES = (POSTGRESQL, REDIS, RABBITMQ)
"""Every service, in the order the console shows them."""

Probe = Callable[[], Awaitable[tuple[ServiceHealth, ...]]]


class HealthWatch:
    """Probes PostgreSQL, Redis and RabbitMQ for one console.

    Args:
        settings: where the services are.
        reader: the engine's read side, whose database handle and status cache are probed.
        probe: replaces the probes (snapshot tests freeze latencies with it).
    """

    def __init__(
        self, settings: Settings, reader: StatusReader, *, probe: Probe | None = None
    ) -> None:
        self.settings = settings
        self.reader = reader
        self.probe = probe
        self._probed_at: dict[str, float] = {}
        self._last: dict[str, ServiceHealth] = {}

    async def health(self) -> tuple[ServiceHealth, ...]:
        """Each service's state and probe latency, in :data:`SERVICES` order; never raises."""
        if self.probe is not None:
            return await self.probe()
        results = await asyncio.gather(
            self._paced(POSTGRESQL, UP_PROBE_EVERY_S, self._probe_postgres),
            self._paced(REDIS, UP_PROBE_EVERY_S, self._probe_redis),
            self._paced(RABBITMQ, AMQP_PROBE_EVERY_S, self._probe_rabbitmq, always=True),
        )
        return tuple(self._track(h) for h in results)

    def mark_down(self, name: str, reason: str) -> ServiceHealth:
        """Record that a read from ``name`` just failed (it is probed again next refresh)."""
        self._probed_at.pop(name, None)
        return self._track(ServiceHealth(name, False, self.masked_url(name), error=reason))

    def masked_url(self, name: str) -> str:
        """The service's URL with any password masked."""
        url = {
            POSTGRESQL: self.settings.database_url,
            REDIS: self.settings.redis_url,
            RABBITMQ: self.settings.amqp_url,
        }.get(name, "")
        return mask_url(url)

    async def _paced(
        self,
        name: str,
        every_s: float,
        probe: Callable[[], Awaitable[ServiceHealth]],
        *,
        always: bool = False,
    ) -> ServiceHealth:
        """The last result while it is younger than ``every_s``, else a new probe.

        A service that is down is probed on every refresh, so its recovery shows
        at once, unless ``always`` paces it either way (the broker: every probe
        is a connection it logs). A read that fails in between marks a service
        down anyway: see :meth:`mark_down`.
        """
        last = self._last.get(name)
        stamp = self._probed_at.get(name)
        now = time.monotonic()
        fresh = stamp is not None and now - stamp < every_s
        if last is not None and fresh and (always or last.up):
            return last
        self._probed_at[name] = now
        return await probe()

    async def _probe_postgres(self) -> ServiceHealth:
        return await self.reader.probe_postgres(PROBE_TIMEOUT_S)

    async def _probe_redis(self) -> ServiceHealth:
        return await self.reader.probe_redis(PROBE_TIMEOUT_S)

    async def _probe_rabbitmq(self) -> ServiceHealth:
        return await self.reader.probe_rabbitmq(PROBE_TIMEOUT_S)

    def _track(self, health: ServiceHealth) -> ServiceHealth:
        """Stamp ``since`` with the time the service last changed between up and down."""
        last = self._last.get(health.name)
        since = last.since if last is not None and last.up == health.up else datetime.now(UTC)
        tracked = replace(health, since=since)
        self._last[health.name] = tracked
        return tracked
