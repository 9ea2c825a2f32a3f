"""The read side a tool outside the engine holds: dashboards and service probes.

The console and ``queueconsole status`` need a database handle and the Redis
status cache together (the dashboard reads both, the health banner pings
both). Handing them the two internals would make every reader depend on how
the engine stores and caches; a :class:`StatusReader` owns the cache, borrows
or owns the database handle, and answers in snapshots only.
"""

from __future__ import annotations

from engine.config import Settings
from engine.db.database import Database
from engine.doctor import DoctorReport, diagnose
from engine.readapi.dashboard import dashboard
from engine.readapi.replica import ReplicaReads
from engine.snapshots import Dashboard, ReadReplicaStatus, ServiceHealth
from engine.status.cache import StatusCache
from engine.status.health import PROBE_TIMEOUT_S, probe_postgres, probe_rabbitmq, probe_redis


class StatusReader:
    """Dashboards and probes over one database handle and one status cache.

    Args:
        settings: where the services are.
        db: a database handle to share (a client's); None opens one of its own,
            closed with the reader.
        pool_size: connections of the reader's own pool (ignored when ``db`` is given).
        application_name: what PostgreSQL shows for the reader's own connections.
    """

    def __init__(
        self,
        settings: Settings,
        db: Database | None = None,
        *,
        pool_size: int = 4,
        application_name: str = "queueconsole-status",
    ) -> None:
        self.settings = settings
        self._owns_db = db is None
        self._primary = (
            db
            if db is not None
            else Database(settings, pool_size=pool_size, application_name=application_name)
        )
        # A shared handle is the owner's choice (a client passes its ``reads``); an own
        # one reads from the replica when one is configured.
        self._db: Database = (
            ReplicaReads(self._primary)
            if db is None and settings.read_database_url
            else self._primary
        )
        self._cache = StatusCache(settings)

    async def dashboard(self, *, probe_services: bool = True) -> Dashboard:
        """One snapshot of everything the overview shows (see :func:`dashboard`)."""
        return await dashboard(
            self._db, self.settings, cache=self._cache, probe_services=probe_services
        )

    async def read_replica(self) -> ReadReplicaStatus | None:
        """Where the reader's queries go and how far the replica trails; None without one."""
        return await self._db.status() if isinstance(self._db, ReplicaReads) else None

    async def quick_checks(self) -> DoctorReport:
        """The doctor's checks that cost a round trip each (no ``rabbitmqctl``, no
        migration scripts), on the reader's database handle: ``status``'s one line."""
        return await diagnose(self.settings, quick=True, db=self._db)

    async def require_database(self) -> None:
        """Raise the engine's error for an unreachable or unmigrated database, by name."""
        await self._db.ping()

    async def probe_postgres(self, timeout_s: float = PROBE_TIMEOUT_S) -> ServiceHealth:
        """``SELECT 1`` on the reader's database handle."""
        return await probe_postgres(self._db, timeout_s)

    async def probe_redis(self, timeout_s: float = PROBE_TIMEOUT_S) -> ServiceHealth:
        """PING on the status cache's pool."""
        return await probe_redis(self._cache, timeout_s)

    async def probe_rabbitmq(self, timeout_s: float = PROBE_TIMEOUT_S) -> ServiceHealth:
        """An AMQP handshake with the broker."""
        return await probe_rabbitmq(self.settings, timeout_s)

    async def close(self) -> None:
        """Close the cache, and the database handle if the reader opened it."""
        try:
            await self._cache.close()
        finally:
            if self._owns_db:
                if self._db is not self._primary:
                    await self._db.close()
                await self._primary.close()
