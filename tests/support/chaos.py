"""The chaos harness (:mod:`bench.chaos`) sized for the test suite.

A few hundred jobs per scenario, a quarter of them sleeping a few
milliseconds so the run lasts long enough for faults to land mid-flight,
and engine settings that notice a dead worker or a missing message within a
couple of seconds. Nothing here is timed: the tests assert what was lost,
never how fast.
"""

from __future__ import annotations

from pathlib import Path

from bench.chaos.faults import EXTRA, SCENARIOS, Timing, run
from bench.chaos.runner import Row, RunOptions, Services
from bench.chaos.workload import Mix
from tests.support.runtime import LIVENESS_S

SMALL_JOBS = 300
SMALL_MIX = Mix(
    workflow_share=0.4,
    workflow_size=20,
    workflow_width=5,
    flaky_share=0.05,
    doomed_share=0.02,
    sleep_share=0.25,
    sleep_s=(0.01, 0.03),
    backoff_s=0.05,
    backoff_max_s=0.5,
)
SMALL_TIMING = Timing(
    fault_at=0.3,
    kill_from=0.1,
    kill_until=0.9,
    kill_interval_s=1.0,
    max_kills=4,
    redis_flush_to_stop_s=0.5,
    redis_down_s=1.0,
    supervisor_down_s=0.5,
    cut_probability=0.15,
    orphan_wait_s=30.0,
)


def small_options(log_dir: Path, jobs: int = SMALL_JOBS) -> RunOptions:
    """Four worker processes (one per queue), quick rescue and reconcile, bounded waits."""
    return RunOptions(
        jobs=jobs,
        workers_per_queue=1,
        mix=SMALL_MIX,
        backlog=jobs,
        settle_timeout_s=LIVENESS_S,
        stall_s=LIVENESS_S / 2,
        grace_s=5.0,
        heartbeat_timeout_s=2.0,
        reconcile_after_s=1.0,
        log_dir=log_dir,
        say=lambda line: None,
    )


async def run_small(name: str, services: Services, log_dir: Path) -> Row:
    """One scenario of the chaos run, small."""
    scenario = SCENARIOS.get(name) or EXTRA[name]
    return await run(
        scenario, services, small_options(log_dir), timing=SMALL_TIMING, log_dir=log_dir
    )


def explain(row: Row) -> str:
    """Everything the harness knows about a row, for an assertion message."""
    return f"{row.tally}\nnotes: {'; '.join(row.notes)}\nfacts: {row.facts}"
