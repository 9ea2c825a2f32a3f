"""The engine's handle on PostgreSQL.

Owns the SQLAlchemy async engine (asyncpg driver) and turns driver failures
into errors a person can act on: an unreachable server becomes
:class:`~engine.errors.ServiceUnavailable` with the URL masked, a database that
was never migrated says to run ``queueconsole migrate``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import asyncpg
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from engine.config import Settings, mask_url, sqlalchemy_url
from engine.errors import ServiceUnavailable, UserError

T = TypeVar("T")
log = logging.getLogger(__name__)

Conn = AsyncConnection | asyncpg.Connection
"""Where driver SQL (``$1`` parameters) can run: a SQLAlchemy connection, inside its
transaction, or the raw asyncpg connection of :meth:`Database.run_single`."""

CONNECT_TIMEOUT_S = 5.0  # seconds; a dead server is reported, not waited on for a minute
TRANSIENT_RETRIES = 5  # deadlock / serialization failures retried before giving up
SERVICE = "PostgreSQL"

_TRANSIENT_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock_detected, serialization_failure


_AUTH_ERRORS = (asyncpg.InvalidAuthorizationSpecificationError, asyncpg.InvalidPasswordError)
_DOWN_ERRORS = (
    OSError,
    asyncio.TimeoutError,
    OperationalError,
    InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.InterfaceError,
)


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
    """

    def __init__(
        self,
        settings: Settings,
        *,
        pool_size: int = 5,
        application_name: str = "queueconsole",
        operation_timeout_s: float | None = None,
    ) -> None:
        self.settings = settings
        self.operation_timeout_s = operation_timeout_s
        self.masked_url = mask_url(settings.database_url)
        self.engine: AsyncEngine = create_async_engine(
            sqlalchemy_url(settings.database_url),
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=False,
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
        try:
            async with self.engine.begin() as conn:
                yield conn
        except (TimeoutError, DBAPIError, OSError) as exc:
            raise self.translate(exc) from exc

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads; each statement sees committed data."""
        try:
            async with self.engine.connect() as conn:
                yield conn
        except (TimeoutError, DBAPIError, OSError) as exc:
            raise self.translate(exc) from exc

    async def run(self, fn: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run ``fn`` in a transaction, again if PostgreSQL aborted it for a deadlock.

        Our multi-row writers lock rows in id order, so deadlocks should not
        happen; this is the belt to those braces, never a reason to skip them.
        """
        async with self._deadline():
            return await self._run(fn)

    async def _run(self, fn: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        for attempt in range(TRANSIENT_RETRIES):
            try:
                async with self.engine.begin() as conn:
                    return await fn(conn)
            except DBAPIError as exc:
                code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
                if code in _TRANSIENT_SQLSTATES and attempt < TRANSIENT_RETRIES - 1:
                    await asyncio.sleep(0.01 * (attempt + 1))
                    continue
                raise self.translate(exc) from exc
            except (TimeoutError, OSError) as exc:
                raise self.translate(exc) from exc
        raise AssertionError("unreachable")

    async def run_single(self, fn: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """Run ``fn`` on a pooled connection's asyncpg driver, outside any transaction.

        For the job path's writes that are one statement each (a claim, a batch of
        completions, with their events and counts): each statement commits by
        itself, atomically, in one round trip — no BEGIN, no COMMIT, no SQLAlchemy
        in between. ``fn`` must not rely on two statements committing together.
        Retried like :meth:`run` when PostgreSQL aborted it for a deadlock.
        """
        async with self._deadline():
            return await self._run_single(fn)

    async def _run_single(self, fn: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        for attempt in range(TRANSIENT_RETRIES):
            try:
                async with self.engine.connect() as conn:
                    raw = await conn.get_raw_connection()
                    driver: asyncpg.Connection = raw.driver_connection  # type: ignore[assignment]
                    try:
                        return await fn(driver)
                    except BaseException:
                        if driver.is_closed():
                            await conn.invalidate()  # never hand a dead connection out again
                        raise
            except asyncpg.PostgresError as exc:
                if exc.sqlstate in _TRANSIENT_SQLSTATES and attempt < TRANSIENT_RETRIES - 1:
                    await asyncio.sleep(0.01 * (attempt + 1))
                    continue
                raise self.translate(exc) from exc
            except (TimeoutError, DBAPIError, OSError, asyncpg.InterfaceError) as exc:
                raise self.translate(exc) from exc
        raise AssertionError("unreachable")

    @asynccontextmanager
    async def _deadline(self) -> AsyncIterator[None]:
        """Bound one operation by ``operation_timeout_s``; past it, PostgreSQL is
        reported unavailable, and where the operation hung is logged."""
        if self.operation_timeout_s is None:
            yield
            return
        scope = asyncio.timeout(self.operation_timeout_s)
        try:
            async with scope:
                yield
        except TimeoutError as exc:
            if not scope.expired():
                raise
            reason = f"no answer within {self.operation_timeout_s:g} s"
            log.warning("PostgreSQL operation abandoned: %s", reason, exc_info=True)
            raise ServiceUnavailable(SERVICE, self.masked_url, reason) from exc

    async def ping(self) -> float:
        """Round-trip time of ``SELECT 1`` in milliseconds; raises if the server is down."""
        started = time.perf_counter()
        async with self.connection() as conn:
            await conn.execute(text("SELECT 1"))
        return (time.perf_counter() - started) * 1000.0

    async def close(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()

    def translate(self, exc: BaseException) -> Exception:
        """The error to show for a driver failure; user-facing where the cause is setup."""
        orig = getattr(exc, "orig", None) or exc
        cause = getattr(orig, "__cause__", None)
        for candidate in (orig, cause):
            if isinstance(candidate, asyncpg.InvalidCatalogNameError):
                return UserError(
                    f"database {self.settings.database_name!r} does not exist at "
                    f"{self.masked_url}; run `queueconsole migrate` to create it"
                )
            if isinstance(candidate, asyncpg.UndefinedTableError):
                return UserError(
                    f"the database at {self.masked_url} has no queueconsole tables; "
                    "run `queueconsole migrate`"
                )
            if isinstance(candidate, _AUTH_ERRORS):
                return ServiceUnavailable(SERVICE, self.masked_url, self._reason(candidate))
        if isinstance(exc, _DOWN_ERRORS) or isinstance(orig, _DOWN_ERRORS):
            return ServiceUnavailable(SERVICE, self.masked_url, self._reason(orig))
        if isinstance(exc, Exception):
            return exc
        return RuntimeError(str(exc))

    def _reason(self, exc: BaseException) -> str:
        if isinstance(exc, asyncio.TimeoutError):
            return f"no answer within {CONNECT_TIMEOUT_S:g} s"
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return self.settings.redact(message)


async def fetch(conn: Conn, sql: str, *args: Any) -> list[Any]:
    """Rows of driver SQL (``$1`` parameters), each readable as ``row["column"]``."""
    if isinstance(conn, AsyncConnection):
        return list((await conn.exec_driver_sql(sql, args)).mappings().all())
    return await conn.fetch(sql, *args)


async def execute(conn: Conn, sql: str, *args: Any) -> None:
    """Run driver SQL (``$1`` parameters) that returns no rows."""
    if isinstance(conn, AsyncConnection):
        await conn.exec_driver_sql(sql, args)
    else:
        await conn.execute(sql, *args)
