"""The worker's asyncpg-pool handle (engine.db.driver) against the real server."""

from __future__ import annotations

import asyncio

import pytest

from engine.config import Settings
from engine.db.driver import DriverConnection, DriverDatabase
from engine.db.sql import Sql
from engine.errors import UserError


async def test_core_statements_run_and_rows_read_like_sqlalchemys(migrated: Settings) -> None:
    db = DriverDatabase(migrated)
    try:
        rows = await db.run(
            lambda conn: conn.execute(
                Sql("SELECT n, n * 2 AS twice FROM unnest(CAST(:ns AS int[])) AS n"),
                {"ns": [1, 2]},
            )
        )
        assert [(r.n, r["twice"]) for r in rows.all()] == [(1, 2), (2, 4)]
        payload = await db.run_single(
            lambda conn: conn.scalar(Sql("""SELECT CAST('{"a": 1}' AS jsonb)"""))
        )
        assert payload == {"a": 1}
    finally:
        await db.close()


async def test_a_missing_table_says_to_migrate(migrated: Settings) -> None:
    db = DriverDatabase(migrated)
    try:
        with pytest.raises(UserError, match="queueconsole migrate"):
            await db.run(lambda conn: conn.execute(Sql("SELECT 1 FROM no_such_table")))
    finally:
        await db.close()


async def test_close_returns_while_a_connection_is_still_in_use(migrated: Settings) -> None:
    """asyncpg's own close waits for every connection in use; a draining worker
    whose last query never ends must still exit."""
    db = DriverDatabase(migrated)
    held = asyncio.Event()

    async def hold(conn: DriverConnection) -> None:
        held.set()
        await conn.execute(Sql("SELECT pg_sleep(60)"))

    task = asyncio.create_task(db.run_single(hold))
    await held.wait()
    await asyncio.wait_for(db.close(), timeout=30)  # a hang guard, not a timing check
    with pytest.raises(Exception):  # noqa: B017 - the connection was terminated under it
        await task
