"""The chaos run in small: a few hundred jobs through four worker processes per fault.

Scenarios 1 (``kill -9`` of workers), 4 (Redis flushed, stopped, restarted)
and 5 (work queues purged) of ``python -m bench.chaos``, run by the same code
on this run's database and namespace, plus 6, the supervisor's own death:
its workers must drain and exit rather than run on unsupervised; and the
engine's database connections cut between commit and reply (in-doubt
commits). The engine runs as ``queueconsole engine`` in a child process, as
an operator runs it.
Every test asserts what the database says was lost, completed twice or run
out of order — never how long anything took.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bench.chaos.measure import Fault, Timeline, recovery
from bench.chaos.runner import Row, Services
from engine.config import Settings
from engine.db.database import Database
from tests.support.chaos import SMALL_JOBS, explain, run_small
from tests.support.private import private_redis
from tests.support.runtime import isolated


def assert_nothing_lost(row: Row) -> None:
    """Every job ended as it was meant to, once, after everything it depends on."""
    t = row.tally
    assert t.submitted == SMALL_JOBS, explain(row)
    assert t.lost == 0, explain(row)
    assert t.completed_twice == 0, explain(row)
    assert t.order_violations == 0, explain(row)
    assert t.unexpected == 0, explain(row)
    assert t.completed + t.failed_expected == t.submitted, explain(row)
    assert t.failed_expected > 0, "the workload includes jobs that fail on purpose"


@pytest.mark.slow
async def test_kill_9_of_workers_under_load_loses_nothing(
    migrated: Settings, db: Database, tmp_path: Path
) -> None:
    row = await run_small("kill-workers", Services(isolated(migrated)), tmp_path)
    assert row.facts["kills"] >= 1, explain(row)
    assert_nothing_lost(row)


@pytest.mark.slow
async def test_redis_flushed_then_stopped_and_restarted_under_load_loses_nothing(
    migrated: Settings, db: Database, tmp_path: Path
) -> None:
    with private_redis() as redis:
        settings = isolated(migrated).evolve(redis_url=redis.url)
        row = await run_small("flush-redis", Services(settings, redis=redis), tmp_path)
        assert redis.is_running
    assert row.faults == 1, explain(row)
    assert_nothing_lost(row)


@pytest.mark.slow
async def test_purged_work_queues_under_load_lose_nothing(
    migrated: Settings, db: Database, tmp_path: Path
) -> None:
    row = await run_small("purge-queues", Services(isolated(migrated)), tmp_path)
    assert row.faults == 1, explain(row)
    assert_nothing_lost(row)


@pytest.mark.slow
async def test_workers_of_a_killed_supervisor_drain_and_exit_and_nothing_is_lost(
    migrated: Settings, db: Database, tmp_path: Path
) -> None:
    row = await run_small("kill-supervisor", Services(isolated(migrated)), tmp_path)
    assert row.facts["orphans"] >= 1, explain(row)
    assert row.facts["orphans_left"] == 0, "workers ran on after their supervisor died"
    assert_nothing_lost(row)


@pytest.mark.slow
async def test_database_connections_cut_between_commit_and_reply_lose_nothing(
    migrated: Settings, db: Database, tmp_path: Path
) -> None:
    # A claim that committed though its worker heard only "connection closed" left its
    # jobs RUNNING, never started, with a live worker; their dependents waited forever.
    row = await run_small("cut-commits", Services(isolated(migrated)), tmp_path)
    assert row.facts["cuts"] >= 1, explain(row)
    assert_nothing_lost(row)


def test_recovery_waits_for_runs_in_flight_the_completion_rate_and_stranded_jobs() -> None:
    # One completion every 0.1 s for 10 s; the fault from t=10 to t=11 stops completions
    # until t=14, a run that began at 9.5 is only handed back at t=16, and a job queued at
    # 9.8 (its message gone) waits until 14.5, while others wait 0.2 s as usual.
    t0 = 1_000_000.0
    completions = [t0 + i / 10 for i in range(100)] + [t0 + 14 + i / 10 for i in range(50)]
    runs = [(t0 + 9.5, t0 + 16.0), (t0 + 9.9, t0 + 10.05), (t0 + 1.0, t0 + 1.1)]
    waits = [(t0 + i / 10, t0 + i / 10 + 0.2) for i in range(98)]
    waits += [(t0 + 9.8, t0 + 14.5), (t0 + 14.0, t0 + 14.2)]
    line = Timeline(tuple(completions), tuple(runs), tuple(waits))
    at = datetime.fromtimestamp(t0 + 10, UTC)
    healed = recovery(line, [Fault(at, at + timedelta(seconds=1))])
    assert healed is not None
    assert healed.in_flight_s == pytest.approx(5.0)
    assert healed.rate_s == pytest.approx(3.0)
    assert healed.wait_s == pytest.approx(3.5, abs=0.11)
    assert healed.seconds == pytest.approx(5.0)
    assert recovery(line, []) is None
    stuck_run = Timeline(tuple(completions), ((t0 + 9.5, None),), tuple(waits))
    stuck_job = Timeline(tuple(completions), tuple(runs), ((t0 + 9.8, None), *waits))
    for stuck in (stuck_run, stuck_job):
        never = recovery(stuck, [Fault(at, at)])
        assert never is not None and math.isinf(never.seconds)
