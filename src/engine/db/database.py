"""The engine's handle on PostgreSQL.

Owns the SQLAlchemy async engine (asyncpg driver) and turns driver failures
into errors a person can act on: an unreachable server becomes
:class:`~engine.errors.ServiceUnavailable` with the URL masked, a database that
was never migrated says to run ``queueconsole migrate``.

SQLAlchemy itself is imported when the engine is first made, never by importing
this module: a process that holds a Database only in case (the supervisor, for the
console's reads; a shell's ``queueconsole submit``, whose plain submit runs on the
client's asyncpg pool) never pays for it.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, TypeVar

import asyncpg

from engine.config import Settings, mask_url, sqlalchemy_url
from engine.db.driver import DriverConnection
from engine.db.errors import CONNECT_TIMEOUT_S, deadline, retry_transient, translate
from engine.db.sql import Sql

if TYPE_CHECKING:  # the asyncio extension imports the ORM: only where an engine is made
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

_PING = Sql("SELECT 1")

T = TypeVar("T")


class Database:
    """A pool of connections to the engine's database.

    Args:
        settings: where the database is.
        pool_size: connections kept open; workers need two, the console a few.
        application_name: shown in ``pg_stat_activity`` so an operator can tell
            which process holds a connection.
        operation_timeout_s: longest wait for one :meth:`run` or :meth:`run_single`
            (its statements, commit and any wait for a pooled connection), None for
            no limit. A connection whose peer vanished without a reset would
            otherwise hold a worker forever: its heartbeat stops, and jobs delivered
            to it wait while it looks alive to the broker.
        pre_ping: test each pooled connection as it is handed out (one round trip), so a
            server that restarted fails when the connection is taken, not in the middle
            of a query; a read replica's reads fall back to the primary on it.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        pool_size: int = 5,
        application_name: str = "queueconsole",
        operation_timeout_s: float | None = None,
        pre_ping: bool = False,
    ) -> None:
        self.settings = settings
        self._pre_ping = pre_ping
        self.operation_timeout_s = operation_timeout_s
        self.masked_url = mask_url(settings.database_url)
        self._pool_size = pool_size
        self._application_name = application_name
        self._engine: AsyncEngine | None = None

    @property
    def engine(self) -> AsyncEngine:
        """SQLAlchemy's async engine, made at first use: its asyncio extension imports
        the ORM (about 8 MiB resident), which a process that holds a Database only in
        case (the headless engine, for the console's reads) should not pay for."""
        if self._engine is None:
            self._engine = self._create_engine()
        return self._engine

    def _create_engine(self) -> AsyncEngine:
        from sqlalchemy.ext.asyncio import create_async_engine

        pool_size = self._pool_size
        application_name = self._application_name
        return create_async_engine(
            sqlalchemy_url(self.settings.database_url),
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=self._pre_ping,
            pool_recycle=3600,
            connect_args={
                "timeout": CONNECT_TIMEOUT_S,
                "server_settings": {
                    "application_name": application_name,
                    # Plan every statement for the table as it is now. A cached generic
                    # plan made while ``jobs`` was small (a new install, the first
                    # seconds of a worker) scans the whole table for each batch until
                    # autovacuum next analyses it: measured, 486 rows read per job.
                    # Planning each time costs ~10 µs per job on the job path.
                    "plan_cache_mode": "force_custom_plan",
                },
            },
        )

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """One transaction; commits on success, rolls back on any error."""
        from sqlalchemy.exc import DBAPIError

        try:
            async with self.engine.begin() as conn:
                yield conn
        except (TimeoutError, DBAPIError, OSError) as exc:
            raise self.translate(exc) from exc

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads; each statement sees committed data."""
        from sqlalchemy.exc import DBAPIError

        try:
            async with self.engine.connect() as conn:
                yield conn
        except (TimeoutError, DBAPIError, OSError) as exc:
            raise self.translate(exc) from exc

    async def run(self, fn: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run ``fn`` in a transaction, again if PostgreSQL aborted it for a deadlock
        (:func:`~engine.db.errors.retry_transient`)."""
        async with deadline(self.operation_timeout_s, self.masked_url):
            return await self._run(fn)

    async def _run(self, fn: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        from sqlalchemy.exc import DBAPIError

        async def once() -> T:
            async with self.engine.begin() as conn:
                return await fn(conn)

        return await retry_transient(once, (DBAPIError, TimeoutError, OSError), self.translate)

    async def run_single(self, fn: Callable[[DriverConnection], Awaitable[T]]) -> T:
        """Run ``fn`` on a pooled connection's asyncpg driver, outside any transaction.

        For the job path's writes that are one statement each (a claim, a batch of
        completions, with their events and counts): each statement commits by
        itself, atomically, in one round trip — no BEGIN, no COMMIT, no SQLAlchemy
        in between. ``fn`` must not rely on two statements committing together.
        Retried like :meth:`run` when PostgreSQL aborted it for a deadlock.
        """
        async with deadline(self.operation_timeout_s, self.masked_url):
            return await self._run_single(fn)

    async def _run_single(self, fn: Callable[[DriverConnection], Awaitable[T]]) -> T:
        from sqlalchemy.exc import DBAPIError

        async def once() -> T:
            async with self.engine.connect() as conn:
                raw = await conn.get_raw_connection()
                driver: asyncpg.Connection = raw.driver_connection  # type: ignore[assignment]
                try:
                    return await fn(DriverConnection(driver))
                except BaseException:
                    if driver.is_closed():
                        await conn.invalidate()  # never hand a dead connection out again
                    raise

        errors = (asyncpg.PostgresError, TimeoutError, DBAPIError, OSError, asyncpg.InterfaceError)
        return await retry_transient(once, errors, self.translate)

    async def ping(self) -> float:
        """Round-trip time of ``SELECT 1`` in milliseconds; raises if the server is down."""
        started = time.perf_counter()
        async with self.connection() as conn:
            await conn.execute(_PING)
        return (time.perf_counter() - started) * 1000.0

    async def close(self) -> None:
        """Close every pooled connection."""
        if self._engine is not None:
            await self._engine.dispose()

    def translate(self, exc: BaseException) -> Exception:
        """The error to show for a driver failure; user-facing where the cause is setup."""
        from sqlalchemy.exc import InterfaceError, OperationalError

        return translate(exc, self.settings, self.masked_url, (OperationalError, InterfaceError))
