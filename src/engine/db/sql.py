"""One SQL statement with ``:name`` parameters, runnable on either database handle.

The engine's statements (:mod:`engine.queries`) run on two connections: asyncpg's own
(:class:`~engine.db.driver.DriverConnection`, the workers' and the services' path) and
SQLAlchemy's ``AsyncConnection`` (the console's reads, transactions that submit with
dependencies, migrations). Written as SQLAlchemy ``text()``, every statement made each
process that merely defines it import SQLAlchemy's core: 15-20 MiB resident in every
worker and the supervisor, and most of a shell's ``queueconsole submit`` start-up.

:class:`Sql` holds the text alone. The driver compiles it once to asyncpg's ``$n``
form (:meth:`Sql.driver_sql`); SQLAlchemy, in the processes that load it anyway, runs
it through the execution hooks it looks up on any statement, which hand over a
``text()`` built at first use. Both read ``:name`` exactly as ``text()`` does (a
``\\:`` escapes a colon; ``::`` casts are left alone), so one object means the same
statement to both.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, CursorResult
    from sqlalchemy.engine.interfaces import (
        CoreExecuteOptionsParameter,
        _CoreMultiExecuteParams,
    )
    from sqlalchemy.sql.base import Executable
    from sqlalchemy.sql.elements import TextClause

    _Statement = Executable
else:
    _Statement = object

# The same patterns as SQLAlchemy's TextClause and its compiler: a parameter is
# ``:word`` not preceded by a colon, a word character or a backslash, and not followed
# by a colon or a word character; ``\:word`` is a literal ``:word``.
_PARAMETER = re.compile(r"(?<![:\w\\]):(\w+)(?![:\w])")
_ESCAPED_COLON = re.compile(r"\\(:\w*)(?![:\w])")


class Sql(_Statement):
    """A statement's text with ``:name`` parameters, compiled on demand per driver.

    Args:
        text: the SQL; values are always bound by name (``:ids``, arrays as
            ``CAST(:ids AS bigint[])``), never formatted into it.
    """

    __slots__ = ("_clause", "_driver", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._driver: tuple[str, tuple[str, ...]] | None = None
        self._clause: TextClause | None = None

    def __repr__(self) -> str:
        return f"Sql({self.text!r})"

    def driver_sql(self) -> tuple[str, tuple[str, ...]]:
        """The statement in asyncpg's form (``$1`` …) and the parameter name each ``$n``
        takes, in order; a name used twice is one ``$n``. Compiled at first use only."""
        if self._driver is None:
            names: dict[str, int] = {}

            def number(match: re.Match[str]) -> str:
                return f"${names.setdefault(match.group(1), len(names) + 1)}"

            sql = _ESCAPED_COLON.sub(lambda m: m.group(1), _PARAMETER.sub(number, self.text))
            self._driver = (sql, tuple(names))
        return self._driver

    def __clause_element__(self) -> TextClause:
        """The same statement as SQLAlchemy's ``text()``, built at first use: only a
        process that runs it through SQLAlchemy imports SQLAlchemy for it."""
        if self._clause is None:
            from sqlalchemy import text

            self._clause = text(self.text)
        return self._clause

    # SQLAlchemy's Connection.execute() and .scalar() call these hooks on the statement
    # they are given; the TextClause answers them.

    def _execute_on_connection(
        self,
        connection: Connection,
        distilled_params: _CoreMultiExecuteParams,
        execution_options: CoreExecuteOptionsParameter,
    ) -> CursorResult[Any]:
        return self.__clause_element__()._execute_on_connection(
            connection, distilled_params, execution_options
        )

    def _execute_on_scalar(
        self,
        connection: Connection,
        distilled_params: _CoreMultiExecuteParams,
        execution_options: CoreExecuteOptionsParameter,
    ) -> Any:
        return self.__clause_element__()._execute_on_scalar(
            connection, distilled_params, execution_options
        )
