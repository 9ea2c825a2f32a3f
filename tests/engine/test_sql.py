"""engine.db.sql.Sql: one statement object that both database handles run alike.

The driver compiles ``:name`` parameters itself; SQLAlchemy runs the same object
through its ``text()``. If the two ever read a statement differently, a worker and
the console would run different SQL under one name: these tests compare them
statement by statement, and on the real server.
"""

from __future__ import annotations

import importlib
import pkgutil

import pytest
from sqlalchemy import text
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg

import engine.queries
from engine.db.database import Database
from engine.db.driver import DriverConnection, DriverDatabase
from engine.db.sql import Sql
from engine.queries.jobs import job_page_query

# A repeated name, a ``::`` cast, a colon inside a literal, an escaped colon.
TRICKY = Sql(
    r"SELECT CAST(:n AS int) + CAST(:n AS int) AS twice, CAST(:word AS text) AS word, "
    r"'10:30'::text AS clock, '\:literal' AS escaped"
)


def _engine_statements() -> dict[str, Sql]:
    found: dict[str, Sql] = {}
    for info in pkgutil.iter_modules(engine.queries.__path__):
        module = importlib.import_module(f"engine.queries.{info.name}")
        for name, value in vars(module).items():
            if isinstance(value, Sql):
                found[f"{info.name}.{name}"] = value
    page, _ = job_page_query(
        limit=10, before=5, state="failed", queue="q", job_type="t", workflow_id=1, search="x"
    )
    found["jobs.job_page_query"] = page
    return found


STATEMENTS = _engine_statements()


def test_every_engine_statement_is_an_sql_object() -> None:
    assert len(STATEMENTS) > 50


@pytest.mark.parametrize("name", [*sorted(STATEMENTS), "tricky"])
def test_the_driver_compiles_each_statement_as_sqlalchemy_does(name: str) -> None:
    statement = STATEMENTS.get(name, TRICKY)
    compiled = text(statement.text).compile(dialect=PGDialect_asyncpg())
    assert statement.driver_sql() == (compiled.string, tuple(compiled.positiontup or ()))


def test_parameters_are_numbered_once_each_and_literals_left_alone() -> None:
    sql, names = TRICKY.driver_sql()
    assert names == ("n", "word")
    assert sql == (
        "SELECT CAST($1 AS int) + CAST($1 AS int) AS twice, CAST($2 AS text) AS word, "
        "'10:30'::text AS clock, ':literal' AS escaped"
    )


async def test_one_statement_reads_the_same_on_both_handles(db: Database) -> None:
    params = {"n": 21, "word": "same"}
    async with db.connection() as conn:
        through_sqlalchemy = tuple((await conn.execute(TRICKY, params)).one())
        scalar = await conn.scalar(TRICKY, params)
    driver = DriverDatabase(db.settings)
    try:

        async def run(conn: DriverConnection) -> tuple[object, ...]:
            return tuple((await conn.execute(TRICKY, params)).one())

        through_driver = await driver.run(run)
    finally:
        await driver.close()
    assert through_sqlalchemy == through_driver == (42, "same", "10:30", ":literal")
    assert scalar == 42


async def test_a_missing_parameter_is_named_on_the_driver(db: Database) -> None:
    driver = DriverDatabase(db.settings)
    try:
        with pytest.raises(KeyError, match="word"):
            await driver.run(lambda conn: conn.execute(TRICKY, {"n": 1}))
    finally:
        await driver.close()
