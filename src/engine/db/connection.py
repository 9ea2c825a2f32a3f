"""What the store needs of a connection and of a database handle, as protocols.

Two concrete pairs run the same store functions: the engine's
:class:`~engine.db.database.Database` hands out SQLAlchemy's ``AsyncConnection``;
a worker's :class:`~engine.db.driver.DriverDatabase` hands out a
:class:`~engine.db.driver.DriverConnection` on asyncpg. Neither inherits from
these protocols: both satisfy them structurally, and
``tests/engine/test_connection_protocols.py`` makes the type checker prove it,
so a method the store starts to call on one and not the other is caught before
a worker runs it.

Statements are :class:`~engine.db.sql.Sql` with ``:name`` parameters
(:mod:`engine.queries`): a driver connection compiles each once to asyncpg's form,
SQLAlchemy runs each as the ``text()`` it stands for.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol, TypeVar

from engine.config import Settings
from engine.db.sql import Sql

T = TypeVar("T")


class Result(Protocol):
    """The rows of one statement, read the ways the store reads them.

    Each row reads a column as an attribute (``row.state``); :meth:`mappings`
    gives rows that read it by key (``row["state"]``), the cheaper form the job
    path uses for its batches.
    """

    def __iter__(self) -> Iterator[Any]: ...

    def all(self) -> Sequence[Any]: ...

    def first(self) -> Any: ...

    def one(self) -> Any: ...

    def one_or_none(self) -> Any: ...

    def scalar(self) -> Any: ...

    def scalar_one(self) -> Any: ...

    def scalars(self) -> Iterable[Any]: ...

    def mappings(self) -> Iterable[Any]: ...


class Connection(Protocol):
    """One connection inside a transaction (or, from ``run_single``, outside one)."""

    async def execute(
        self, statement: Sql, parameters: Mapping[str, Any] | None = None, /
    ) -> Result: ...

    async def scalar(
        self, statement: Sql, parameters: Mapping[str, Any] | None = None, /
    ) -> Any: ...

    def begin_nested(self) -> AbstractAsyncContextManager[Any]:
        """A savepoint: leaving it by an exception undoes only what ran inside it."""
        ...


class DatabaseHandle(Protocol):
    """A pool of connections with the engine's retry and timeout rules.

    ``run`` gives ``fn`` a transaction; ``run_single`` gives it a connection
    outside any transaction, where each statement commits by itself (the job
    path's one-statement writes). Both retry ``fn`` when PostgreSQL aborted it
    for a deadlock or serialization failure.
    """

    settings: Settings

    async def run(self, fn: Callable[[Connection], Awaitable[T]]) -> T: ...

    async def run_single(self, fn: Callable[[Connection], Awaitable[T]]) -> T: ...

    async def close(self) -> None: ...
