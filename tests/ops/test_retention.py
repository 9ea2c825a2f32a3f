"""Retention: exactly the old finished jobs go, with their trail; everything else stays."""

import json
import subprocess
import sys
from datetime import timedelta

import pytest
from sqlalchemy import text

from engine.client import Client
from engine.config import Settings
from engine.db.database import Database
from engine.durations import DurationError, format_duration, parse_duration
from engine.errors import ConfigError, UserError
from engine.maintenance.retention import RetentionService
from engine.queries.counts import COUNT_TOTALS
from engine.runtime.engine import EngineOptions, maintenance_services
from engine.specs import JobSpec
from engine.states import State
from tests.ops.conftest import scalar
from tests.support.flow import complete, exhaust, state_of

OFFSET = 1000  # bulk ids start above the few jobs the client makes first

# Segment A (g 1..60,000): independent jobs; g % 10 in 0..3 finished 10+ days ago,
# 4..5 finished an hour ago, 6..9 live. Two events each, a log line for every 5th id.
# Segment B (g 60,001..80,000): 200 workflows of 100 jobs, all finished 10 days ago,
# except that every even workflow still has one RUNNING job: those are kept whole.
# Segment C (g 80,001..100,000): pairs a -> b (b depends on a): p % 3 == 0: a failed
# long ago and b is BLOCKED on it (a is kept: retrying a is how b gets going again);
# p % 3 == 1: both finished long ago (both go); p % 3 == 2: a old, b recent (a goes).
BULK_SQL = [
    "INSERT INTO workflows (id, name) SELECT w, 'bulk-' || w FROM generate_series(1, 200) w",
    f"""
    INSERT INTO jobs (id, type, queue, state, created_at, queued_at, finished_at, attempts)
    SELECT {OFFSET} + g, 'bulk.a', CASE WHEN g % 2 = 0 THEN 'alpha' ELSE 'beta' END,
        CASE WHEN g % 10 < 6 THEN (ARRAY['completed', 'failed', 'cancelled'])[1 + g % 3]
             ELSE (ARRAY['queued', 'running', 'retrying', 'pending'])[g % 10 - 5] END,
        now() - interval '11 days', now() - interval '11 days',
        CASE WHEN g % 10 < 4 THEN now() - interval '10 days' - g * interval '1 second'
             WHEN g % 10 < 6 THEN now() - interval '1 hour' END,
        1
    FROM generate_series(1, 60000) g
    """,
    f"""
    INSERT INTO jobs (id, type, queue, state, workflow_id, finished_at)
    SELECT {OFFSET} + g, 'bulk.b', 'gamma',
        CASE WHEN ((g - 60001) / 100) % 2 = 0 AND (g - 60001) % 100 = 99 THEN 'running'
             ELSE 'completed' END,
        1 + (g - 60001) / 100,
        CASE WHEN ((g - 60001) / 100) % 2 = 0 AND (g - 60001) % 100 = 99 THEN NULL
             ELSE now() - interval '10 days' END
    FROM generate_series(60001, 80000) g
    """,
    f"""
    INSERT INTO jobs (id, type, queue, state, finished_at)
    SELECT {OFFSET} + g, 'bulk.c', 'delta',
        CASE WHEN ((g - 80001) / 2) % 3 = 0
             THEN CASE WHEN (g - 80001) % 2 = 0 THEN 'failed' ELSE 'blocked' END
             ELSE 'completed' END,
        CASE WHEN ((g - 80001) / 2) % 3 = 0 AND (g - 80001) % 2 = 1 THEN NULL
             WHEN ((g - 80001) / 2) % 3 = 2 AND (g - 80001) % 2 = 1
             THEN now() - interval '1 hour'
             ELSE now() - interval '10 days' END
    FROM generate_series(80001, 100000) g
    """,
    f"""
    INSERT INTO job_dependencies (job_id, depends_on_id)
    SELECT {OFFSET} + g + 1, {OFFSET} + g FROM generate_series(80001, 100000, 2) g
    """,
    f"""
    INSERT INTO job_events (job_id, from_state, to_state, attempt)
    SELECT id, NULL, state, 0 FROM jobs WHERE id > {OFFSET}
    UNION ALL
    SELECT id, 'running', state, 1 FROM jobs WHERE type = 'bulk.a'
    """,
    f"""
    INSERT INTO job_logs (job_id, attempt, level, message)
    SELECT id, 1, 'info', 'line ' || id FROM jobs WHERE id > {OFFSET} AND id % 5 = 0
    """,
    # Counts consistent with the rows, as the recorder would have left them.
    "DELETE FROM queue_state_deltas",
    "DELETE FROM queue_state_counts",
    "INSERT INTO queue_state_counts SELECT queue, state, count(*) FROM jobs GROUP BY 1, 2",
    "ANALYZE jobs, job_events, job_logs, job_dependencies",
]


def expected_bulk_victims() -> set[int]:
    """The bulk ids a 7-day prune must remove, from the construction above."""
    gone = {OFFSET + g for g in range(1, 60001) if g % 10 < 4}
    gone |= {OFFSET + g for g in range(60001, 80001) if ((g - 60001) // 100) % 2 == 1}
    for g in range(80001, 100001):
        pair, is_b = divmod(g - 80001, 2)
        if pair % 3 == 1 or (pair % 3 == 2 and not is_b):
            gone.add(OFFSET + g)
    return gone


async def _backdate(db: Database, job_ids: list[int], days: int = 10) -> None:
    async with db.transaction() as conn:
        await conn.execute(
            text(
                "UPDATE jobs SET finished_at = now() - make_interval(days => :d) "
                "WHERE id = ANY(:ids)"
            ),
            {"d": days, "ids": job_ids},
        )


async def _ids(db: Database, sql: str) -> set[int]:
    async with db.connection() as conn:
        return {r[0] for r in await conn.execute(text(sql))}


async def _counts_match_rows(db: Database) -> bool:
    async with db.connection() as conn:
        folded = {
            (r.queue, r.state): int(r.jobs) for r in await conn.execute(COUNT_TOTALS) if int(r.jobs)
        }
        actual = {
            (r.queue, r.state): int(r.n)
            for r in await conn.execute(
                text("SELECT queue, state, count(*) AS n FROM jobs GROUP BY 1, 2")
            )
        }
    return folded == actual


@pytest.mark.slow
async def test_prune_on_100k_jobs_removes_exactly_the_old_finished_ones(client, db):
    # A few jobs made the ordinary way, with their real trail: two old, one recent.
    old_done = await client.submit("real.old")
    old_cancelled = await client.submit("real.old")
    recent = await client.submit("real.recent")
    await complete(db, old_done.id)
    await client.cancel(old_cancelled.id)
    await complete(db, recent.id)
    await _backdate(db, [old_done.id, old_cancelled.id])
    async with db.transaction() as conn:
        for sql in BULK_SQL:
            await conn.execute(text(sql))

    all_ids = await _ids(db, "SELECT id FROM jobs")
    assert len(all_ids) >= 100_000
    victims = expected_bulk_victims() | {old_done.id, old_cancelled.id}
    async with db.connection() as conn:
        params = {"v": sorted(victims)}
        victim_events = await conn.scalar(
            text("SELECT count(*) FROM job_events WHERE job_id = ANY(:v)"), params
        )
        victim_logs = await conn.scalar(
            text("SELECT count(*) FROM job_logs WHERE job_id = ANY(:v)"), params
        )
        victim_edges = await conn.scalar(
            text(
                "SELECT count(*) FROM job_dependencies "
                "WHERE job_id = ANY(:v) OR depends_on_id = ANY(:v)"
            ),
            params,
        )
        by_state = {
            r.state: r.n
            for r in await conn.execute(
                text("SELECT state, count(*) AS n FROM jobs WHERE id = ANY(:v) GROUP BY 1"),
                params,
            )
        }
    events_before = await scalar(db, "SELECT count(*) FROM job_events")
    logs_before = await scalar(db, "SELECT count(*) FROM job_logs")
    edges_before = await scalar(db, "SELECT count(*) FROM job_dependencies")

    preview = await client.prune("7d", dry_run=True)
    assert await _ids(db, "SELECT id FROM jobs") == all_ids  # a dry run removes nothing

    result = await client.prune("7d", batch_size=1000)

    assert await _ids(db, "SELECT id FROM jobs") == all_ids - victims
    assert result.total_jobs == len(victims)
    assert {s.value: n for s, n in result.jobs.items() if n} == by_state
    assert (result.events, result.logs, result.dependencies) == (
        victim_events,
        victim_logs,
        victim_edges,
    )
    assert await scalar(db, "SELECT count(*) FROM job_events") == events_before - victim_events
    assert await scalar(db, "SELECT count(*) FROM job_logs") == logs_before - victim_logs
    assert await scalar(db, "SELECT count(*) FROM job_dependencies") == edges_before - victim_edges
    # Kept: 100 live workflows x 99 old jobs, and every failed job a BLOCKED job waits on.
    assert result.kept == 100 * 99 + 3334
    assert result.batches >= len(victims) // 1000
    # The dry run counted exactly what the real run removed.
    assert preview.dry_run and not result.dry_run
    assert (preview.jobs, preview.events, preview.logs, preview.dependencies, preview.kept) == (
        result.jobs,
        result.events,
        result.logs,
        result.dependencies,
        result.kept,
    )
    # Workflows whose every job went are gone; the others stay.
    assert await _ids(db, "SELECT id FROM workflows") == set(range(1, 201, 2))
    # Counts per (queue, state) still describe the rows exactly.
    assert await _counts_match_rows(db)
    # Nothing left to do: a second run removes nothing.
    again = await client.prune("7d")
    assert again.total_jobs == 0 and again.kept == result.kept


async def test_a_workflow_is_kept_until_it_finishes_then_its_old_jobs_go(client, db):
    wf = await client.submit_workflow(
        [JobSpec("a", ref="a"), JobSpec("b", ref="b", depends_on=["a"])]
    )
    a, b = wf.ids["a"], wf.ids["b"]
    await complete(db, a)
    await _backdate(db, [a])
    assert (await client.prune("7d")).kept == 1
    assert await state_of(db, a) is State.COMPLETED
    await complete(db, b)
    await _backdate(db, [b], days=8)
    result = await client.prune("7d")
    assert result.total_jobs == 2 and result.kept == 0
    assert await scalar(db, "SELECT count(*) FROM jobs") == 0
    assert await scalar(db, "SELECT count(*) FROM workflows") == 0
    assert await _counts_match_rows(db)


async def test_a_failed_job_a_blocked_job_waits_on_is_kept_so_it_can_be_retried(client, db):
    a = await client.submit("flaky", max_retries=0)
    b = await client.submit("after", depends_on=[a.id])
    await exhaust(db, a.id)
    assert await state_of(db, b.id) is State.BLOCKED
    await _backdate(db, [a.id], days=30)
    result = await client.prune("7d")
    assert (result.total_jobs, result.kept) == (0, 1)
    await client.retry(a.id)
    assert await state_of(db, b.id) is State.PENDING


async def test_the_retention_service_works_through_a_backlog_in_bounded_ticks(client, db):
    ids = [(await client.submit("old", {"i": i})).id for i in range(5)]
    for job_id in ids:
        await complete(db, job_id)
    await _backdate(db, ids)
    settings = db.settings.evolve(retention_age="7d", retention_batch_size=2)
    service = RetentionService(settings, db, batches_per_tick=1)
    delays = [await service.tick() for _ in range(4)]
    assert delays[:2] == [0.0, 0.0]  # more was left: tick again at once
    assert delays[-1] == service.interval_s
    assert service.removed == 5
    assert await scalar(db, "SELECT count(*) FROM jobs") == 0


async def test_retention_settings_are_validated_and_off_by_default(migrated, db):
    job = await Client(migrated, database=db).submit("old")
    await complete(db, job.id)
    await _backdate(db, [job.id], days=3650)
    off = RetentionService(migrated, db)
    assert not off.enabled
    assert await off.tick() == off.interval_s
    assert await scalar(db, "SELECT count(*) FROM jobs") == 1  # off removes nothing
    assert "retention" not in service_names(migrated, db)  # off: not even started
    with pytest.raises(ConfigError, match="retention_age '7x' is not a duration"):
        Settings(retention_age="7x")
    with pytest.raises(ConfigError, match="retention_batch_size"):
        Settings(retention_batch_size=0)
    on = migrated.evolve(retention_age="2w", retention_batch_size=500)
    service = RetentionService(on, db)
    assert (service.older_than, service.batch_size) == (timedelta(days=14), 500)
    assert service_names(on, db)[-1] == "retention"


def service_names(settings: Settings, db: Database) -> list[str]:
    """The services an engine on ``settings`` runs, as :class:`~engine.runtime.engine.Engine`
    builds them."""
    services = maintenance_services(settings, EngineOptions(workers={}), db, [], retention_db=db)
    return [s.name for s in services]


@pytest.mark.parametrize(
    ("text_", "expected"),
    [("7d", timedelta(days=7)), ("1d12h", timedelta(hours=36)), ("90m", timedelta(minutes=90))],
)
def test_durations_read_as_operators_write_them(text_, expected):
    assert parse_duration(text_) == expected
    assert parse_duration(format_duration(expected)) == expected


@pytest.mark.parametrize("bad", ["7x", "7", "", "d", "0d", "-1d", "7 days"])
def test_bad_durations_say_what_is_accepted(bad):
    with pytest.raises(DurationError, match=r"duration|longer than zero"):
        parse_duration(bad)


async def test_bad_prune_arguments_are_refused(client):
    with pytest.raises(UserError, match="batch size"):
        await client.prune("7d", batch_size=0)
    with pytest.raises(UserError, match="not a duration"):
        await client.prune("soon")


def _cli(env, *args):
    return subprocess.run(
        [sys.executable, "-m", "queueconsole", *args], env=env, capture_output=True, text=True
    )


async def test_cli_prune_dry_run_then_real_with_json(cli_env, client, db):
    job = await client.submit("old")
    await complete(db, job.id)
    await _backdate(db, [job.id])
    dry = _cli(cli_env, "prune", "--older-than", "7d", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    report = json.loads(dry.stdout)
    assert (report["dry_run"], report["jobs"], report["by_state"]["completed"]) == (True, 1, 1)
    assert report["events"] == 3 and report["older_than"] == "1w"
    assert await scalar(db, "SELECT count(*) FROM jobs") == 1
    real = _cli(cli_env, "prune", "--older-than", "7d")
    assert real.returncode == 0, real.stderr
    assert "removed 1 jobs" in real.stdout and "3 events" in real.stdout
    assert await scalar(db, "SELECT count(*) FROM jobs") == 0
    bad = _cli(cli_env, "prune", "--older-than", "7x")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "'7x'" in bad.stderr
