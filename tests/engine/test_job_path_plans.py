"""The job path's batched writes find their rows by primary key, whatever the planner knows.

A worker prepares its claim and completion statements once per connection, often
while ``jobs`` is still empty, and PostgreSQL may keep one generic plan for the
connection's life. Written as plain joins, those plans read a partial index of the
state they filter on — which keeps an entry for every job ever in that state until
VACUUM — so each claim took longer as the table grew (the benchmark's index fetches
per update grew from 1 to over 150 in 20 seconds). Here each statement is planned
generically on an empty, never-analysed table, the worst case: every read of ``jobs``
must be a probe of its primary key.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest
from sqlalchemy.dialects import postgresql

from engine.db.database import Database
from engine.queries.jobs import (
    JOB_BLOCK_DESCENDANTS,
    JOB_CLAIM_MANY,
    JOB_COMPLETE_MANY,
    JOB_FAIL_MANY,
    JOB_RETURN_MANY,
)
from engine.queries.runtime import JOB_DEFER_MANY, JOBS_NOT_MINE


def _driver_sql(statement: Any) -> str:
    """Driver SQL ($1 …) of a statement, whichever form it is written in."""
    if isinstance(statement, str):
        return statement
    return str(statement.compile(dialect=postgresql.asyncpg.dialect()))


STATEMENTS = {
    "claim": JOB_CLAIM_MANY,
    "complete": JOB_COMPLETE_MANY,
    "fail": JOB_FAIL_MANY,
    "give back": JOB_RETURN_MANY,
    "defer": JOB_DEFER_MANY,
    "not mine": JOBS_NOT_MINE,
    "block descendants": JOB_BLOCK_DESCENDANTS,
}


def _indexes(node: dict[str, Any]) -> set[str]:
    found = {node["Index Name"]} if "Index Name" in node else set()
    for child in node.get("Plans", ()):
        found |= _indexes(child)
    return found


def _reads_of_jobs(node: dict[str, Any]) -> Iterator[tuple[str, frozenset[str]]]:
    """(node type, indexes used) of every plan node that reads ``jobs``."""
    if node.get("Relation Name") == "jobs" and node["Node Type"] != "ModifyTable":
        yield node["Node Type"], frozenset(_indexes(node))
    for child in node.get("Plans", ()):
        yield from _reads_of_jobs(child)


async def _generic_plan(db: Database, sql: str) -> dict[str, Any]:
    params = len(set(re.findall(r"\$(\d+)", sql)))

    async def explain(conn: asyncpg.Connection) -> dict[str, Any]:
        await conn.execute("TRUNCATE jobs CASCADE")
        # Grown since the last ANALYZE (never, here): what a young install looks like.
        await conn.execute(
            "INSERT INTO jobs (type, queue, state, finished_at) "
            "SELECT 'demo.noop', 'default', 'completed', now() FROM generate_series(1, 20000)"
        )
        await conn.execute("SET plan_cache_mode = force_generic_plan")
        await conn.execute(f"PREPARE job_path_probe AS {sql}")
        try:
            nulls = ", ".join(["NULL"] * params)
            raw = await conn.fetchval(f"EXPLAIN (FORMAT JSON) EXECUTE job_path_probe({nulls})")
        finally:
            await conn.execute("DEALLOCATE job_path_probe")
            await conn.execute("RESET plan_cache_mode")
        # SQLAlchemy's pool registers a JSON codec on its connections; a bare one has none.
        return (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]

    return await db.run_single(explain)


@pytest.mark.parametrize("name", sorted(STATEMENTS))
async def test_generic_plan_reads_jobs_only_by_primary_key(db: Database, name: str) -> None:
    plan = await _generic_plan(db, _driver_sql(STATEMENTS[name]))
    reads = list(_reads_of_jobs(plan))
    assert reads, f"{name}: the plan never reads jobs"
    by_key = {(kind, frozenset({"jobs_pkey"})) for kind in ("Index Scan", "Bitmap Heap Scan")}
    assert set(reads) <= by_key, f"{name}: {reads}"
