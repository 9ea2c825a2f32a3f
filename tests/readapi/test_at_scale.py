"""The dashboard's queries and deep job pages on 200,000 jobs: plans and results.

The table is large enough, and freshly analysed, for the planner to choose
what it would choose at millions of rows. Every statement the dashboard
actually runs (PostgreSQL fallback path: the most queries) is captured and
EXPLAINed; none may scan ``jobs`` or ``job_events`` sequentially, and deep
keyset pages may not sort.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from sqlalchemy import event, text

from bench.load_million import load_jobs, vacuum_analyze
from engine.config import Settings
from engine.db.database import Database
from engine.readapi.dashboard import dashboard, job_states
from engine.readapi.jobs import job_page
from engine.snapshots import JobFilter
from engine.states import State
from tests.conftest import truncate

ROWS = 200_000
BIG_TABLES = {"jobs", "job_events"}


@pytest.fixture(scope="module")
async def loaded(migrated: Settings) -> AsyncIterator[Database]:
    """200,000 jobs with their events, vacuumed and analysed; emptied afterwards."""
    database = Database(migrated)
    await truncate(database)
    async with database.transaction() as conn:
        await load_jobs(conn, ROWS)
    await vacuum_analyze(database)
    try:
        yield database
    finally:
        await truncate(database)
        await database.close()


class Captured:
    """Every statement (and its parameters) a piece of code sends to PostgreSQL."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.statements: list[tuple[str, Any]] = []

    def _record(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if not statement.lstrip().upper().startswith(("EXPLAIN", "SELECT 1")):
            self.statements.append((statement, parameters))

    def __enter__(self) -> Captured:
        event.listen(self.db.engine.sync_engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.db.engine.sync_engine, "before_cursor_execute", self._record)


async def explain(db: Database, statement: str, parameters: Any) -> dict[str, Any]:
    async with db.connection() as conn:
        raw = await conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement}", parameters)
        doc = raw.scalar_one()
    plans = json.loads(doc) if isinstance(doc, str) else doc
    return plans[0]["Plan"]


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", ()):
        yield from nodes(child)


def seq_scans(plan: dict[str, Any]) -> list[str]:
    return [
        n["Relation Name"]
        for n in nodes(plan)
        if n["Node Type"] == "Seq Scan" and n.get("Relation Name") in BIG_TABLES
    ]


async def _no_broker(settings, names):
    return {}


async def test_no_dashboard_query_scans_jobs_or_events(loaded: Database, migrated: Settings):
    with Captured(loaded) as captured:
        snap = await dashboard(loaded, migrated, cache=None, broker_depths=_no_broker)
        await job_states(loaded, [1, ROWS // 2, ROWS], cache=None)
    assert snap.queues.available and snap.latency.available and snap.failures.available
    assert len(captured.statements) >= 7
    offenders = []
    for statement, parameters in captured.statements:
        plan = await explain(loaded, statement, parameters)
        if seq_scans(plan):
            offenders.append((seq_scans(plan), " ".join(statement.split())[:160]))
    assert offenders == []


async def test_the_snapshot_reads_the_right_numbers_at_scale(loaded: Database, migrated: Settings):
    snap = await dashboard(loaded, migrated, cache=None, broker_depths=_no_broker)
    async with loaded.connection() as conn:
        truth = {
            (r.queue, r.state): r.n
            for r in await conn.execute(
                text("SELECT queue, state, count(*) AS n FROM jobs GROUP BY 1, 2")
            )
        }
    assert {(q.name, s.value): n for q in snap.queues.queues for s, n in q.counts if n} == truth
    assert snap.failures.groups and snap.failures.scanned == sum(
        g.count for g in snap.failures.groups
    )
    assert {g.fingerprint for g in snap.failures.groups} == {
        "ValueError: bad input <n>",
        "KeyError: bad input <n>",
        "TimeoutError: bad input <n>",
    }
    assert snap.latency.sample > 0 and snap.latency.run_p95_ms >= snap.latency.run_p50_ms
    assert snap.throughput.completed > 0
    assert len(snap.workers.workers) == 8


@pytest.mark.parametrize(
    "flt",
    [
        JobFilter(),
        JobFilter(state=State.FAILED),
        JobFilter(state=State.COMPLETED),
        JobFilter(queue="emails"),
        JobFilter(type="type3"),
        JobFilter(state=State.CANCELLED, queue="reports"),
    ],
    ids=["all", "failed", "completed", "queue", "type", "state+queue"],
)
async def test_deep_keyset_pages_neither_scan_nor_sort(loaded: Database, flt: JobFilter):
    with Captured(loaded) as captured:
        async with loaded.connection() as conn:
            first = await job_page(conn, flt, limit=50)
            deep = await job_page(conn, flt, limit=50, before=2_000)
    assert first.items and first.next_before is not None
    for statement, parameters in captured.statements:
        plan = await explain(loaded, statement, parameters)
        kinds = {n["Node Type"] for n in nodes(plan)}
        assert not seq_scans(plan), statement
        assert "Sort" not in kinds, f"a page that sorts costs more the deeper it is: {statement}"
    assert all(j.id < 2_000 for j in deep.items)


async def test_walking_pages_to_the_bottom_returns_every_job_once(loaded: Database):
    async with loaded.connection() as conn:
        expected = [
            r.id
            for r in await conn.execute(
                text("SELECT id FROM jobs WHERE state = 'failed' ORDER BY id DESC")
            )
        ]
        seen: list[int] = []
        before = None
        while True:
            page = await job_page(conn, JobFilter(state=State.FAILED), limit=200, before=before)
            seen.extend(j.id for j in page.items)
            if page.next_before is None:
                break
            before = page.next_before
        bottom = await job_page(conn, JobFilter(), limit=50, before=51)
    assert seen == expected and len(expected) > 1000
    assert [j.id for j in bottom.items] == list(range(50, 0, -1))
    assert bottom.next_before is None
