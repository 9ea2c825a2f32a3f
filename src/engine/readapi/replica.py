"""Reads from a streaming replica while it keeps up; from the primary otherwise.

``read_database_url`` names a hot standby of ``database_url``. The console's and
the read API's queries (``Client``'s reads, the dashboard) then go to it, which
takes their load off the primary that claims and writes jobs. A replica may be
down or trail behind; showing data seconds old is fine, minutes old is not. So
before a read, at most every :data:`CHECK_INTERVAL_S` (:data:`DOWN_RECHECK_S`
while it does not answer), :class:`ReplicaReads` measures the replica's lag
and sends reads to the primary while the replica is unreachable or trails by
more than ``read_max_lag_s``, and back to the replica once it has caught up.

Lag: the primary's WAL position is read first, then the replica's replayed
position. A replica that has replayed at least that far is current (lag 0),
however long ago its last transaction was (an idle primary writes nothing); one
that has not is as old as the last transaction it replayed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from engine.db.database import Database
from engine.errors import ServiceUnavailable
from engine.queries.replication import REPLICATION_PRIMARY_POSITION, REPLICATION_REPLICA_STATE
from engine.snapshots.replica import USING_PRIMARY, USING_REPLICA, ReadReplicaStatus

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger(__name__)

CHECK_INTERVAL_S = 1.0  # seconds a lag measurement is trusted before reads measure again
DOWN_RECHECK_S = 5.0  # seconds before a replica that did not answer is tried again
CHECK_TIMEOUT_S = 2.0  # seconds a measurement may take; longer counts as the replica down
REPLICA_POOL_SIZE = 4  # connections kept to the replica (the console and API read a few at once)


def lsn(text: str | None) -> int | None:
    """A WAL position (``16/B374D848``) as a number of bytes; None stays None."""
    if not text:
        return None
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) + int(low, 16)


def url_host(url: str) -> str:
    """``host:port`` of a database URL, nothing else of it (no user, no password)."""
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 5432}"


class ReplicaReads(Database):
    """A :class:`Database` whose :meth:`connection` (reads) goes to the read replica while
    it is up and within ``read_max_lag_s``, and to the primary otherwise; transactions
    (:meth:`run`, :meth:`transaction`, :meth:`run_single`) always go to the primary.

    Args:
        primary: the caller's primary database; its pool is shared, and closing this
            object leaves it open.
    """

    def __init__(self, primary: Database) -> None:
        settings = primary.settings
        if not settings.read_database_url:
            raise ValueError("ReplicaReads needs settings.read_database_url")
        super().__init__(
            settings,
            application_name="queueconsole-reads",
            operation_timeout_s=primary.operation_timeout_s,
        )
        self.primary = primary
        self.replica = Database(
            settings.evolve(database_url=settings.read_database_url),
            pool_size=REPLICA_POOL_SIZE,
            application_name="queueconsole-replica-reads",
            pre_ping=True,
        )
        self.max_lag_s = settings.read_max_lag_s
        self._status = ReadReplicaStatus(
            url_host(settings.read_database_url), None, USING_PRIMARY, "not checked yet"
        )
        self._checked_at: float | None = None
        self._lock = asyncio.Lock()

    @property
    def engine(self) -> AsyncEngine:
        """The primary's engine: writes and fallback reads share its pool."""
        return self.primary.engine

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads: to the replica while it is usable, else the primary.
        A replica that refuses the connection is marked down and the read goes to the
        primary instead; one that fails during the read fails that read only."""
        status = await self.status()
        async with contextlib.AsyncExitStack() as stack:
            conn: AsyncConnection | None = None
            if status.on_replica:
                try:
                    conn = await stack.enter_async_context(self.replica.connection())
                except ServiceUnavailable as exc:
                    await self._mark_down(f"replica unreachable: {exc.reason}")
            if conn is None:
                conn = await stack.enter_async_context(self.primary.connection())
            yield conn

    async def ping(self) -> float:
        """The primary's round trip: the service health shown is the primary's."""
        return await self.primary.ping()

    async def status(self) -> ReadReplicaStatus:
        """Where reads go now, measuring the lag again if the last check is stale."""
        if self._fresh():
            return self._status
        async with self._lock:
            if not self._fresh():
                self._status = await self._check()
                self._checked_at = time.monotonic()
        return self._status

    async def close(self) -> None:
        """Close the replica's pool (the primary belongs to the caller)."""
        await self.replica.close()

    def _fresh(self) -> bool:
        """Whether the last check still holds. A replica that did not answer is left
        alone longer: each try may wait for a connect timeout, and reads wait with it."""
        if self._checked_at is None:
            return False
        down = self._status.lag_s is None and not self._status.on_replica
        interval = DOWN_RECHECK_S if down else CHECK_INTERVAL_S
        return time.monotonic() - self._checked_at < interval

    async def _mark_down(self, reason: str) -> None:
        self._status = ReadReplicaStatus(self._status.url_host, None, USING_PRIMARY, reason)
        self._checked_at = time.monotonic()
        await self.replica.close()  # pooled connections to a server that went are dead

    async def _check(self) -> ReadReplicaStatus:
        host = self._status.url_host
        primary_lsn: int | None = None
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_S), self.primary.connection() as conn:
                primary_lsn = lsn((await conn.execute(REPLICATION_PRIMARY_POSITION)).scalar())
        except (ServiceUnavailable, TimeoutError) as exc:
            log.debug("primary WAL position not read: %s", exc)
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_S), self.replica.connection() as conn:
                row = (await conn.execute(REPLICATION_REPLICA_STATE)).one()
        except (ServiceUnavailable, TimeoutError) as exc:
            reason = exc.reason if isinstance(exc, ServiceUnavailable) else "no answer"
            await self.replica.close()
            return self._changed(
                ReadReplicaStatus(host, None, USING_PRIMARY, f"replica unreachable: {reason}")
            )
        if not row.standby:
            return self._changed(
                ReadReplicaStatus(host, 0.0, USING_REPLICA, "not a standby: reads as configured")
            )
        replayed = lsn(row.replayed)
        if primary_lsn is None:
            return self._changed(
                ReadReplicaStatus(host, None, USING_REPLICA, "lag unknown: primary unreachable")
            )
        if replayed is not None and replayed >= primary_lsn:
            lag: float | None = 0.0
        else:
            lag = None if row.replayed_age_s is None else max(0.0, float(row.replayed_age_s))
        if lag is None:
            return self._changed(
                ReadReplicaStatus(host, None, USING_PRIMARY, "replica has replayed nothing yet")
            )
        if lag > self.max_lag_s:
            return self._changed(
                ReadReplicaStatus(
                    host, lag, USING_PRIMARY, f"lag {lag:.1f} s over the {self.max_lag_s:g} s bound"
                )
            )
        return self._changed(
            ReadReplicaStatus(host, lag, USING_REPLICA, f"within the {self.max_lag_s:g} s bound")
        )

    def _changed(self, status: ReadReplicaStatus) -> ReadReplicaStatus:
        """Log when reads move between the replica and the primary."""
        if status.using != self._status.using and self._checked_at is not None:
            log.info(
                "reads now go to the %s (%s): %s", status.using, status.url_host, status.reason
            )
        return status
