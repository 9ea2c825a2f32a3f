"""The job path's batched writes find their rows by primary key, whatever the planner knew.

A worker prepares its claim and completion statements once per connection, often
while ``jobs`` is still small. Two traps, both measured in the benchmark: written as
plain joins, their plans read a partial index of the state they filter on — which
keeps an entry for every job ever in that state until VACUUM — so each claim took
longer as the table grew (index fetches per update from 1 to over 150 in 20 s); and a
generic plan cached while the table was small scanned all of it per batch (486 rows
read per job) until autovacuum analysed it. Here each statement is prepared and run
on an empty table, the table then grows without ANALYZE, and the plan the connection
would now use may read ``jobs`` only through its primary key.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from engine.db.database import Database
from engine.db.driver import DriverConnection
from engine.queries.jobs import (
    JOB_BLOCK_DESCENDANTS,
    JOB_CLAIM_MANY,
    JOB_COMPLETE_MANY,
    JOB_DEFER_MANY,
    JOB_FAIL_MANY,
    JOB_NOT_MINE,
    JOB_RETURN_MANY,
)

STATEMENTS = {
    "claim": JOB_CLAIM_MANY,
    "complete": JOB_COMPLETE_MANY,
    "fail": JOB_FAIL_MANY,
    "give back": JOB_RETURN_MANY,
    "defer": JOB_DEFER_MANY,
    "not mine": JOB_NOT_MINE,
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


async def _plan_after_growth(db: Database, sql: str) -> dict[str, Any]:
    async def explain(wrapped: DriverConnection) -> dict[str, Any]:
        conn = wrapped.driver
        await conn.execute("TRUNCATE jobs CASCADE")
        await conn.execute(f"PREPARE job_path_probe AS {sql}")
        try:
            types = await conn.fetchval(
                "SELECT parameter_types::text[] FROM pg_prepared_statements "
                "WHERE name = 'job_path_probe'"
            )
            # A batch of 45 runs (arrays), as a busy worker sends; scalars NULL.
            args = ", ".join(
                f"array_fill(NULL::{t[:-2]}, ARRAY[45])" if t.endswith("[]") else "NULL"
                for t in types
            )
            for _ in range(6):  # past the point where PostgreSQL may cache a generic plan
                await conn.execute(f"EXECUTE job_path_probe({args})")
            # Grown since the last ANALYZE (never, here): what a young install looks like.
            await conn.execute(
                "INSERT INTO jobs (type, queue, state, finished_at) "
                "SELECT 'demo.noop', 'default', 'completed', now() "
                "FROM generate_series(1, 20000)"
            )
            raw = await conn.fetchval(f"EXPLAIN (FORMAT JSON) EXECUTE job_path_probe({args})")
        finally:
            await conn.execute("DEALLOCATE job_path_probe")
        # SQLAlchemy's pool registers a JSON codec on its connections; a bare one has none.
        return (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]

    return await db.run_single(explain)


@pytest.mark.parametrize("name", sorted(STATEMENTS))
async def test_plan_reads_jobs_only_by_primary_key(db: Database, name: str) -> None:
    plan = await _plan_after_growth(db, STATEMENTS[name].driver_sql()[0])
    reads = list(_reads_of_jobs(plan))
    assert reads, f"{name}: the plan never reads jobs"
    by_key = {(kind, frozenset({"jobs_pkey"})) for kind in ("Index Scan", "Bitmap Heap Scan")}
    assert set(reads) <= by_key, f"{name}: {reads}"
