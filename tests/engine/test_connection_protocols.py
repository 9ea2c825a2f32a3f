"""Both database handles, and both kinds of connection they hand out, satisfy the
protocols the store is written against (engine.db.connection).

The assignments below are the proof, and it is the type checker's: mypy rejects
this module if either class lacks a method the protocol names, or has it with an
incompatible signature. The test run only checks the module imports.
"""

from __future__ import annotations

from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncConnection

from engine.db.connection import Connection, DatabaseHandle, Result
from engine.db.database import Database
from engine.db.driver import DriverConnection, DriverDatabase, Rows

ENGINE_HANDLE: type[DatabaseHandle] = Database
WORKER_HANDLE: type[DatabaseHandle] = DriverDatabase
ENGINE_CONNECTION: type[Connection] = AsyncConnection
WORKER_CONNECTION: type[Connection] = DriverConnection
ENGINE_RESULT: type[Result] = CursorResult
WORKER_RESULT: type[Result] = Rows


def test_each_implementation_is_checked_once() -> None:
    checked = [ENGINE_HANDLE, WORKER_HANDLE, ENGINE_CONNECTION, WORKER_CONNECTION]
    checked += [ENGINE_RESULT, WORKER_RESULT]
    assert len(set(checked)) == 6
