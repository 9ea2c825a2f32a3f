"""A small, fixed installation for snapshot tests: every state, a workflow, failures.

Times are frozen after the jobs are driven to their states (the database
stamps ``now()``), so what the panes print is the same on every run.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text

from engine.client import Client
from engine.db.database import Database
from engine.specs import JobSpec
from engine.store import transitions
from engine.store.transitions import Failure
from queueconsole.console.history import History
from tests.support.flow import claim, complete, exhaust, fail_once

FROZEN = datetime(2025, 1, 6, 12, 0, 0, tzinfo=UTC)


async def build(client: Client, db: Database) -> dict[str, int]:
    """Submit and drive the scenario; returns named job ids."""
    wf = await client.submit_workflow(
        [
            JobSpec("etl.extract", {"source": "s3://bucket/day"}, ref="extract"),
            JobSpec("etl.transform", {"step": 1}, ref="transform", depends_on=["extract"]),
            JobSpec("etl.load", {"table": "facts"}, ref="load", depends_on=["transform"]),
            JobSpec("etl.report", {}, ref="report", depends_on=["load"]),
        ],
        name="nightly",
    )
    ids = dict(wf.ids)
    await complete(db, ids["extract"])
    await exhaust(db, ids["transform"])
    ids["mail"] = (await client.submit("mail.send", {"to": "ops@example.com"}, queue="mail")).id
    ids["running"] = (await client.submit("report.build", {"month": 12}, priority="high")).id
    await claim(db, ids["running"])
    ids["retrying"] = (await client.submit("api.call", {"url": "https://x"}, max_retries=3)).id
    await fail_once(db, ids["retrying"])
    ids["cancelled"] = (await client.submit("demo.noop", {}, queue="mail")).id
    await client.cancel(ids["cancelled"])
    for i in range(3):
        job = await client.submit("api.call", {"n": i}, max_retries=0, priority="low")
        c = await claim(db, job.id)
        await db.run(
            lambda conn, job=job, c=c: transitions.fail(
                conn,
                [
                    Failure(
                        job.id,
                        c.attempt,
                        "TimeoutError",
                        "upstream timed out after 30 s",
                        traceback="Traceback (most recent call last):\n  ...\nTimeoutError",
                        retryable=False,
                    )
                ],
            )
        )
        ids[f"timeout{i}"] = job.id
    ids["markup"] = (
        await client.submit("demo.noop", {"a": "[bold red]x[/]", "b": "[link=http://e]y[/link]"})
    ).id
    await freeze(db)
    return ids


async def freeze(db: Database) -> None:
    """Every timestamp the panes show, set to fixed values."""
    async with db.transaction() as conn:
        await conn.execute(
            text(
                "UPDATE jobs SET created_at = CAST(:t AS timestamptz) + make_interval(secs => id),"
                " queued_at = CASE WHEN queued_at IS NULL THEN NULL"
                "   ELSE CAST(:t AS timestamptz) + make_interval(secs => id + 1) END,"
                " started_at = CASE WHEN started_at IS NULL THEN NULL"
                "   ELSE CAST(:t AS timestamptz) + make_interval(secs => id + 2) END,"
                " finished_at = CASE WHEN finished_at IS NULL THEN NULL"
                "   ELSE CAST(:t AS timestamptz) + make_interval(secs => id + 3) END,"
                " run_at = CASE WHEN run_at IS NULL THEN NULL"
                "   ELSE CAST(:t AS timestamptz) + make_interval(secs => id + 60) END"
            ),
            {"t": FROZEN},
        )
        await conn.execute(
            text(
                "UPDATE job_events SET at = CAST(:t AS timestamptz) + make_interval(secs => id),"
                " reason = regexp_replace(reason, 'retry at [0-9T:.+-]+', 'retry at (frozen)')"
            ),
            {"t": FROZEN},
        )


def seeded_history() -> History:
    """Chart curves that look like a working day and never change."""
    history = History()
    depth = [40 + (i * 7) % 23 - i // 4 for i in range(120)]
    throughput = [3 + (i * 5) % 7 for i in range(120)]
    failures = [1 if i % 17 == 0 else 0 for i in range(120)]
    history.seed(depth, throughput, failures)
    return history
