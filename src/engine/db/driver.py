"""A worker's handle on PostgreSQL: asyncpg's own pool, without SQLAlchemy's engine.

SQLAlchemy's asyncio extension always imports its ORM, and together they stay
resident in every process that creates an async engine — about 8 MiB of a
64 MiB idle worker. A worker runs a fixed set of statements and needs neither,
so it uses :class:`DriverDatabase`: the same :meth:`run` / :meth:`run_single`
contract as :class:`~engine.db.database.Database`, on ``asyncpg.create_pool``.
Statements (:class:`~engine.db.sql.Sql` with ``:name`` parameters, :mod:`engine.queries`)
are compiled once to driver SQL; rows read as SQLAlchemy's do (``row.state``, and
``row["state"]`` from :meth:`Rows.mappings`), so the store's functions run
unchanged on either: both satisfy :class:`~engine.db.connection.Connection`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from asyncpg.transaction import Transaction

from engine.config import Settings, mask_url
from engine.db.errors import CONNECT_TIMEOUT_S, deadline, retry_transient, translate
from engine.db.sql import Sql

T = TypeVar("T")

CLOSE_WAIT_S = 2.0
"""Longest :meth:`DriverDatabase.close` waits for connections still in use."""


class Row(asyncpg.Record):
    """A row readable by column name as an attribute too, like SQLAlchemy's."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class Rows(list[Row]):
    """The rows of one statement, with the parts of SQLAlchemy's Result the store uses."""

    def all(self) -> list[Row]:
        return list(self)

    def first(self) -> Row | None:
        return self[0] if self else None

    def one(self) -> Row:
        if len(self) != 1:
            raise LookupError(f"expected one row, got {len(self)}")
        return self[0]

    def one_or_none(self) -> Row | None:
        if len(self) > 1:
            raise LookupError(f"expected at most one row, got {len(self)}")
        return self.first()

    def scalar(self) -> Any:
        return self[0][0] if self else None

    def scalar_one(self) -> Any:
        return self.one()[0]

    def scalars(self) -> list[Any]:
        return [r[0] for r in self]

    def mappings(self) -> Rows:
        """The rows themselves: an asyncpg record already reads ``row["column"]``."""
        return self


class DriverConnection:
    """One pooled asyncpg connection, inside :meth:`DriverDatabase.run`'s transaction
    or (from either handle's ``run_single``) outside any, each statement then
    committing by itself.

    ``driver`` is the asyncpg connection itself, for what the store never needs
    (tests, EXPLAIN).
    """

    def __init__(self, driver: asyncpg.Connection | PoolConnectionProxy) -> None:
        self.driver = driver

    async def execute(self, statement: Sql, params: Mapping[str, Any] | None = None) -> Rows:
        """Run a statement with named parameters: one round trip, the statement
        compiled at its first use only."""
        sql, names = statement.driver_sql()
        values = params or {}
        return Rows(await self.driver.fetch(sql, *[values[n] for n in names], record_class=Row))

    async def scalar(self, statement: Sql, params: Mapping[str, Any] | None = None) -> Any:
        """The first column of the first row, None without rows."""
        return (await self.execute(statement, params)).scalar()

    def begin_nested(self) -> Transaction:
        """A savepoint inside :meth:`DriverDatabase.run`'s transaction (asyncpg nests
        transactions as savepoints), as SQLAlchemy's ``begin_nested``."""
        return self.driver.transaction()


def _driver_url(url: str) -> str:
    """asyncpg takes libpq's URL (``sslmode`` included); drop a SQLAlchemy driver suffix."""
    parts = urlsplit(url)
    return urlunsplit(("postgresql", parts.netloc, parts.path, parts.query, parts.fragment))


async def _init_connection(conn: asyncpg.Connection) -> None:
    # The same JSON convention as SQLAlchemy's asyncpg dialect: values go in as JSON
    # text (the store serialises them), come out decoded.
    for name in ("json", "jsonb"):
        await conn.set_type_codec(
            name, schema="pg_catalog", encoder=lambda v: v, decoder=json.loads
        )


async def _keep_session(conn: asyncpg.Connection) -> None:
    """A pool's reset that sends nothing (asyncpg has already rolled back any open
    transaction): for statements that leave no session state behind."""


class DriverDatabase:
    """A small asyncpg pool with :class:`~engine.db.database.Database`'s contract.

    Args:
        settings: where the database is.
        pool_size: connections kept open; as many again while busy (as
            :class:`~engine.db.database.Database`'s overflow).
        application_name: shown in ``pg_stat_activity``.
        operation_timeout_s: longest wait for one :meth:`run` or :meth:`run_single`,
            None for no limit (see :class:`~engine.db.database.Database`).
        plan_cache_mode: PostgreSQL's setting for the pool's connections. The default
            plans each statement for the table as it is now (see
            :class:`~engine.db.database.Database`); a pool running only statements
            whose plan cannot depend on the table's size (the submit path's inserts)
            skips that planning with ``force_generic_plan``.
        reset_sessions: run asyncpg's session reset (``RESET ALL``, ``UNLISTEN *``…,
            one round trip) each time a connection goes back to the pool. A pool
            whose statements leave no session state behind turns it off; an open
            transaction is still rolled back.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        pool_size: int = 3,
        application_name: str = "queueconsole",
        operation_timeout_s: float | None = None,
        plan_cache_mode: str = "force_custom_plan",
        reset_sessions: bool = True,
    ) -> None:
        self.settings = settings
        self.plan_cache_mode = plan_cache_mode
        self.reset_sessions = reset_sessions
        self.operation_timeout_s = operation_timeout_s
        self.masked_url = mask_url(settings.database_url)
        self._pool_size = pool_size
        self._application_name = application_name
        self._pool: asyncpg.Pool | None = None
        self._pool_lock = asyncio.Lock()

    async def _get_pool(self) -> asyncpg.Pool:
        if self._pool is None:
            async with self._pool_lock:
                if self._pool is None:
                    self._pool = await asyncpg.create_pool(
                        _driver_url(self.settings.database_url),
                        min_size=0,
                        max_size=2 * self._pool_size,
                        max_inactive_connection_lifetime=3600.0,
                        timeout=CONNECT_TIMEOUT_S,
                        record_class=Row,
                        init=_init_connection,
                        reset=None if self.reset_sessions else _keep_session,
                        server_settings={
                            "application_name": self._application_name,
                            # as Database: plans follow the table's size
                            "plan_cache_mode": self.plan_cache_mode,
                        },
                    )
        return self._pool

    async def run(self, fn: Callable[[DriverConnection], Awaitable[T]]) -> T:
        """Run ``fn`` in a transaction, again if PostgreSQL aborted it for a deadlock."""
        async with deadline(self.operation_timeout_s, self.masked_url):
            return await self._retrying(fn, transaction=True)

    async def run_single(self, fn: Callable[[DriverConnection], Awaitable[T]]) -> T:
        """Run ``fn`` on a pooled connection outside any transaction (each of its
        statements commits by itself); retried like :meth:`run`."""
        async with deadline(self.operation_timeout_s, self.masked_url):
            return await self._retrying(fn, transaction=False)

    async def _retrying(
        self, fn: Callable[[DriverConnection], Awaitable[T]], *, transaction: bool
    ) -> T:
        async def once() -> T:
            pool = await self._get_pool()
            async with pool.acquire() as conn:
                if not transaction:
                    return await fn(DriverConnection(conn))
                async with conn.transaction():
                    return await fn(DriverConnection(conn))

        errors = (asyncpg.PostgresError, TimeoutError, OSError, asyncpg.InterfaceError)
        return await retry_transient(
            once, errors, lambda exc: translate(exc, self.settings, self.masked_url)
        )

    async def close(self) -> None:
        """Close every pooled connection, waiting at most :data:`CLOSE_WAIT_S` for
        those in use (asyncpg's close waits for them all; past the wait it drops
        them, as SQLAlchemy's dispose would): a draining worker must exit."""
        if self._pool is not None:
            pool, self._pool = self._pool, None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(CLOSE_WAIT_S):
                    await pool.close()  # cancelled, it terminates every connection
