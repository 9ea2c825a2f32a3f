"""Fixtures for the operations features: the schedule tables emptied around each test.

The shared ``db`` fixture truncates the core tables; schedules live in tables of
their own (migration 0002), emptied here before and after every test so a
scheduler running in another test never sees one of ours.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from engine.db.database import Database
from engine.store.changes import ChangeSet

OPS_TABLES = "schedule_fires, schedules"


async def _empty(db: Database) -> None:
    async with db.transaction() as conn:
        await conn.execute(text(f"TRUNCATE {OPS_TABLES} RESTART IDENTITY"))


@pytest.fixture(autouse=True)
async def empty_schedules(db: Database) -> AsyncIterator[None]:
    await _empty(db)
    yield
    await _empty(db)


class RecordingHook:
    """An after-commit hook that keeps every change set it is given (what a publisher
    or the status cache would receive)."""

    def __init__(self) -> None:
        self.calls: list[ChangeSet] = []

    async def after_commit(self, changes: ChangeSet) -> None:
        self.calls.append(changes)

    @property
    def runnables(self) -> list[tuple[int, int, str]]:
        return [(r.job_id, r.attempt, r.queue) for c in self.calls for r in c.runnables]

    @property
    def transitions(self) -> list[tuple[int, str | None, str, str | None]]:
        return [
            (t.job_id, t.from_state.value if t.from_state else None, t.to_state.value, t.reason)
            for c in self.calls
            for t in c.transitions
        ]


@pytest.fixture
def hook() -> RecordingHook:
    return RecordingHook()


async def scalar(db: Database, sql: str, **params: object) -> object:
    async with db.connection() as conn:
        return await conn.scalar(text(sql), params)
