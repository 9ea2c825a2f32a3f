"""Run the real engine in a test: supervisor, worker processes, services, broker.

Each use gets a namespace of its own, so broker messages of one test can never
reach the jobs of another (ids restart after every TRUNCATE), and its broker
queues are deleted afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import time
from collections.abc import AsyncIterator, Iterable
from typing import Any

from sqlalchemy import text

from engine.broker.admin import delete_namespace
from engine.broker.names import Names
from engine.client import Client
from engine.config import Settings
from engine.db.database import Database
from engine.runtime.engine import Engine, EngineOptions
from engine.runtime.wiring import open_client
from engine.states import TERMINAL, State

LIVENESS_S = float(os.environ.get("QC_TEST_LIVENESS_S", "120"))
"""How long a test waits for jobs to settle before declaring them stuck (a hang bound,
not a performance figure)."""


def isolated(settings: Settings) -> Settings:
    """The run's settings with a namespace of its own."""
    return settings.evolve(namespace=f"{settings.namespace}-{secrets.token_hex(3)}")


@contextlib.asynccontextmanager
async def running_engine(
    settings: Settings, queues: Iterable[str] = ("default",), **options: Any
) -> AsyncIterator[tuple[Engine, Client]]:
    """An engine with local workers, and a client that publishes; stopped and cleaned up."""
    queues = tuple(queues)
    workers = options.pop("workers", 2)
    opts = EngineOptions(
        workers={q: workers for q in queues},
        heartbeat_timeout_s=options.pop("heartbeat_timeout_s", 3.0),
        reconcile_after_s=options.pop("reconcile_after_s", 2.0),
        grace_s=options.pop("grace_s", 5.0),
        **options,
    )
    engine = Engine(settings, opts)
    await engine.start()
    try:
        async with open_client(settings) as client:
            yield engine, client
    finally:
        await engine.stop()
        with contextlib.suppress(Exception):
            await delete_namespace(settings, Names(settings.namespace), queues)


async def states(db: Database, ids: Iterable[int] | None = None) -> dict[int, State]:
    """job id -> state."""
    async with db.connection() as conn:
        if ids is None:
            rows = await conn.execute(text("SELECT id, state FROM jobs"))
        else:
            rows = await conn.execute(
                text("SELECT id, state FROM jobs WHERE id = ANY(:ids)"), {"ids": list(ids)}
            )
        return {r.id: State(r.state) for r in rows}


async def wait_until_settled(
    db: Database, ids: Iterable[int] | None = None, *, timeout_s: float = LIVENESS_S
) -> dict[int, State]:
    """Wait until every job (or the given ones) is terminal; fail naming the stragglers."""
    deadline = time.monotonic() + timeout_s
    while True:
        now = await states(db, ids)
        live = {i: s for i, s in now.items() if s not in TERMINAL}
        if not live:
            return now
        if time.monotonic() > deadline:
            sample = dict(list(live.items())[:10])
            raise AssertionError(f"{len(live)} jobs still live after {timeout_s:g} s: {sample}")
        await asyncio.sleep(0.2)


async def wait_for(db: Database, sql: str, params: dict[str, Any] | None = None) -> Any:
    """Poll a query until it returns a truthy scalar (bounded by LIVENESS_S)."""
    deadline = time.monotonic() + LIVENESS_S
    while True:
        async with db.connection() as conn:
            value = await conn.scalar(text(sql), params or {})
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {LIVENESS_S:g} s: {sql}")
        await asyncio.sleep(0.1)


async def completed_twice(db: Database) -> list[int]:
    """Jobs with more than one COMPLETED event (must always be empty)."""
    async with db.connection() as conn:
        rows = await conn.execute(
            text(
                "SELECT job_id FROM job_events WHERE to_state = 'completed' "
                "AND from_state IS DISTINCT FROM to_state GROUP BY job_id HAVING count(*) > 1"
            )
        )
        return [r.job_id for r in rows]


async def order_violations(db: Database) -> list[tuple[int, int]]:
    """Edges (dependency, dependent) where the dependent started before the dependency
    completed, judged from the recorded event times of every attempt."""
    async with db.connection() as conn:
        rows = await conn.execute(
            text(
                """
                SELECT d.depends_on_id AS dep, d.job_id AS job
                FROM job_dependencies d
                WHERE EXISTS (
                    SELECT 1 FROM job_events s
                    WHERE s.job_id = d.job_id AND s.to_state = 'running'
                      AND s.at < (SELECT min(c.at) FROM job_events c
                                  WHERE c.job_id = d.depends_on_id
                                    AND c.to_state = 'completed')
                ) OR (
                    EXISTS (SELECT 1 FROM job_events s WHERE s.job_id = d.job_id
                            AND s.to_state = 'running')
                    AND NOT EXISTS (SELECT 1 FROM job_events c WHERE c.job_id = d.depends_on_id
                                    AND c.to_state = 'completed')
                )
                """
            )
        )
        return [(r.dep, r.job) for r in rows]
