"""Retrying a failure group: exactly the FAILED jobs of one key, all of them, in batches.

The group is larger than a page of the job list (1,000) and than a batch of the
retry (500); a second group shares its message with another exception type.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from engine import client as client_module
from engine.client import Client
from engine.db.database import Database
from engine.errors import EmptyFailureGroup
from engine.queries.jobs import (
    JOB_FAILED_GROUP_BLOCKED_DESCENDANTS,
    JOB_FAILED_GROUP_PAGE,
    JOB_FAILED_GROUP_SIZE,
    JOB_FAILURE_GROUP_KEY,
)
from engine.readapi.dashboard import failure_groups
from engine.snapshots import JobFilter, JobRef, failure_group_key
from engine.specs import JobSpec
from engine.states import State
from engine.store.changes import ChangeSet
from tests.support.flow import fail_for_good, state_of

BIG = 1_200  # jobs in the group retried: more than a page (1,000) and than a batch
VALUE_GROUP = "ValueError: boom N"
KEY_GROUP = "KeyError: boom N"


class Published:
    """An after-commit hook that records what it was handed, and checks it was committed."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.calls: list[ChangeSet] = []
        self.committed_when_published: list[bool] = []

    async def after_commit(self, changes: ChangeSet) -> None:
        self.calls.append(changes)
        first = changes.runnables[0].job_id
        self.committed_when_published.append(await state_of(self.db, first) is State.QUEUED)


async def _failed_groups(client: Client, db: Database) -> dict[str, Any]:
    """A big ValueError group with one BLOCKED dependent, and a small KeyError group."""
    wf = await client.submit_workflow(
        [
            JobSpec("demo.fail", ref="a", max_retries=0),
            JobSpec("demo.noop", ref="b", depends_on=["a"]),
        ]
    )
    big = [s.id for s in await client.submit_many([JobSpec("demo.fail")] * BIG)]
    small = [s.id for s in await client.submit_many([JobSpec("demo.fail")] * 5)]
    value_ids = [wf.ids["a"], *big]
    await fail_for_good(
        db,
        [(i, "ValueError", f"boom {n}") for n, i in enumerate(value_ids)]
        + [(i, "KeyError", f"boom {n}") for n, i in enumerate(small)],
    )
    return {"value": value_ids, "key": small, "a": wf.ids["a"], "b": wf.ids["b"]}


async def _states(db: Database, ids: list[int]) -> dict[str, int]:
    async with db.connection() as conn:
        rows = await conn.execute(
            text(
                "SELECT state, count(*) AS n FROM jobs WHERE id = ANY(CAST(:ids AS bigint[])) "
                "GROUP BY state"
            ),
            {"ids": ids},
        )
        return {r.state: r.n for r in rows}


async def test_a_group_larger_than_a_page_is_retried_whole_and_alone(client: Client, db: Database):
    jobs = await _failed_groups(client, db)
    assert await state_of(db, jobs["b"]) is State.BLOCKED
    dashboard = await failure_groups(db)
    assert {g.fingerprint: g.count for g in dashboard.groups} == {
        VALUE_GROUP: BIG + 1,
        KEY_GROUP: 5,
    }

    preview = await client.preview_retry_group(VALUE_GROUP)
    assert preview.count == BIG + 1
    assert list(preview.newest_ids) == sorted(jobs["value"], reverse=True)[:20]
    assert preview.blocked_count == 1
    assert preview.blocked == (JobRef(jobs["b"], "demo.noop", State.BLOCKED),)

    hook = Published(db)
    client.hooks.append(hook)
    done = await client.retry_group(VALUE_GROUP)

    assert (done.retried, done.skipped, done.released) == (BIG + 1, 0, 1)
    assert done.batches == 3 == len(hook.calls)  # 500 + 500 + 201, each published
    assert all(hook.committed_when_published)
    assert sum(len(c.runnables) for c in hook.calls) == BIG + 1
    assert await _states(db, jobs["value"]) == {"queued": BIG + 1}
    assert await _states(db, jobs["key"]) == {"failed": 5}
    assert await state_of(db, jobs["b"]) is State.PENDING  # waits for a, which runs again
    async with db.connection() as conn:
        events = await conn.scalar(
            text(
                "SELECT count(*) FROM job_events WHERE from_state = 'failed' "
                "AND to_state = 'queued' AND reason = 'retried with its failure group'"
            )
        )
        spent = await conn.scalar(
            text(
                "SELECT count(*) FROM jobs WHERE id = ANY(CAST(:ids AS bigint[])) "
                "AND budget_base <> attempts"
            ),
            {"ids": jobs["value"]},
        )
    assert events == BIG + 1
    assert spent == 0  # every retried job has its whole attempt budget again

    with pytest.raises(EmptyFailureGroup, match="no failed jobs left in failure group"):
        await client.retry_group(VALUE_GROUP)
    with pytest.raises(EmptyFailureGroup):
        await client.preview_retry_group(VALUE_GROUP)
    assert len(hook.calls) == 3


async def test_an_unknown_group_is_a_plain_refusal(client: Client):
    for key in ("no such group", "nul\x00in it"):
        with pytest.raises(EmptyFailureGroup, match="no failed jobs left"):
            await client.preview_retry_group(key)
        with pytest.raises(EmptyFailureGroup, match="no failed jobs left"):
            await client.retry_group(key)


async def test_a_job_that_cannot_run_again_is_skipped_and_the_rest_retried(
    client: Client, db: Database, monkeypatch: pytest.MonkeyPatch
):
    """A failed job whose idempotency key a live job took meanwhile stays FAILED; the
    savepoint around each job keeps the rest of its batch (batches of 2 here)."""
    monkeypatch.setattr(client_module, "GROUP_RETRY_BATCH", 2)
    keyed = await client.submit("demo.fail", idempotency_key="k-1")
    others = [s.id for s in await client.submit_many([JobSpec("demo.fail")] * 4)]
    await fail_for_good(db, [(i, "OSError", "disk full") for i in [keyed.id, *others]])
    holder = await client.submit("demo.noop", idempotency_key="k-1")
    assert not holder.duplicate

    done = await client.retry_group("OSError: disk full")

    assert (done.retried, done.skipped, done.batches) == (4, 1, 3)
    assert await state_of(db, keyed.id) is State.FAILED
    assert await _states(db, others) == {"queued": 4}


async def test_the_sql_key_and_its_python_twin_agree(client: Client, db: Database):
    job = await client.submit("demo.noop")
    cases = [("T: m N", "T"), (None, "T"), (None, None), ("", "T"), ("", None)]
    async with db.connection() as conn:
        for fp, etype in cases:
            key = await conn.scalar(
                text(
                    f"SELECT {JOB_FAILURE_GROUP_KEY} FROM (SELECT CAST(:fp AS text) "
                    "AS error_fingerprint, CAST(:t AS text) AS error_type) jobs"
                ),
                {"fp": fp, "t": etype},
            )
            assert key == failure_group_key(fp, etype), (fp, etype)
    page = await client.jobs(JobFilter())
    assert page.items[0].id == job.id and page.items[0].failure_group == "unknown"


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    found = [plan]
    for child in plan.get("Plans", ()):
        found += _nodes(child)
    return found


async def test_a_group_is_read_through_its_index(db: Database):
    """EXPLAIN with a few thousand FAILED jobs in several groups: each statement reads the
    group's entries of jobs_failed_group_idx, never the table or every failed job."""
    async with db.transaction() as conn:
        await conn.execute(
            text(
                "INSERT INTO jobs (type, queue, state, error_type, error_fingerprint, "
                "finished_at) SELECT 'demo.fail', 'default', 'failed', 'E' || (g % 10), "
                "'E' || (g % 10) || ': boom N', now() FROM generate_series(1, 6000) g"
            )
        )
        await conn.execute(
            text(
                "INSERT INTO jobs (type, queue, state) "
                "SELECT 'demo.noop', 'default', 'completed' FROM generate_series(1, 6000)"
            )
        )
        await conn.execute(text("ANALYZE jobs"))
    params = {"fingerprint": "E3: boom N", "after": 0, "limit": 500, "sample": 20}  # 600 jobs
    plans = {}
    async with db.connection() as conn:
        for name, statement in (
            ("page", JOB_FAILED_GROUP_PAGE),
            ("size", JOB_FAILED_GROUP_SIZE),
            ("blocked", JOB_FAILED_GROUP_BLOCKED_DESCENDANTS),
        ):
            sql = statement.text
            explain = text(f"EXPLAIN (FORMAT JSON) {sql}")
            plans[name] = (await conn.execute(explain, params)).scalar_one()[0]["Plan"]
            text_plan = text(f"EXPLAIN {sql}")
            print(name, *(r[0] for r in await conn.execute(text_plan, params)), sep="\n  ")
    for name, plan in plans.items():
        nodes = _nodes(plan)
        assert any(n.get("Index Name") == "jobs_failed_group_idx" for n in nodes), (name, plan)
        scans = [n for n in nodes if n["Node Type"] == "Seq Scan"]
        assert not [n for n in scans if n["Relation Name"] == "jobs"], (name, plan)
