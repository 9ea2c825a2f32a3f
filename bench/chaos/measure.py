"""What a chaos run found, read from the database after the run (the source of truth).

Every figure comes from the ``jobs`` rows and the ``job_events`` audit trail:

- **lost**: a job in the database that is not terminal at the end (BLOCKED
  counts as lost: the workload never makes a job depend on one meant to fail);
- **completed more than once**: a job with more than one COMPLETED event;
- **dependency-order violations**: an edge whose dependent started before its
  dependency's first completion, or started although the dependency never
  completed. Event times are each transaction's start, and a dependent is only
  released by the commit of its dependency's completion, so a legal run always
  starts strictly later;
- **recovery**: see :func:`recovery`.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text

from bench.chaos.workload import EXPECT
from engine.db.database import Database

RATE_WINDOW_S = 1.0  # seconds; completions are counted over windows this long
RATE_STEP_S = 0.1  # seconds between the windows tried after a fault
BASELINE_S = 5.0  # seconds before a fault whose completion rate is the norm
RECOVERED_SHARE = 0.5
"""The engine has recovered once it completes at least this share of its pre-fault rate."""
WAIT_SLACK_S = 1.0  # seconds a queue wait may exceed its pre-fault worst and count as normal
SAMPLE = 5  # job ids quoted per anomaly

# -- chaos_tally -- every job's end against what it was meant to end as.
_TALLY = text(
    f"""
    SELECT count(*) AS submitted,
           count(*) FILTER (WHERE state = 'completed' AND payload->>'{EXPECT}' = 'ok')
             AS completed,
           count(*) FILTER (WHERE state = 'failed' AND payload->>'{EXPECT}' = 'fail')
             AS failed_expected,
           count(*) FILTER (WHERE state NOT IN ('completed', 'failed', 'cancelled')) AS lost,
           (array_agg(id ORDER BY id)
              FILTER (WHERE state NOT IN ('completed', 'failed', 'cancelled')))[1:{SAMPLE}]
             AS lost_ids,
           (array_agg(id ORDER BY id)
              FILTER (WHERE state IN ('completed', 'failed', 'cancelled')
                      AND NOT (state = 'completed' AND payload->>'{EXPECT}' = 'ok')
                      AND NOT (state = 'failed' AND payload->>'{EXPECT}' = 'fail')))
             AS unexpected_ids
    FROM jobs
    """
)

# -- chaos_completed_twice -- jobs with more than one COMPLETED event.
_COMPLETED_TWICE = text(
    """
    SELECT job_id FROM job_events
    WHERE to_state = 'completed' AND from_state IS DISTINCT FROM to_state
    GROUP BY job_id HAVING count(*) > 1 ORDER BY job_id
    """
)

# -- chaos_lost_detail -- where each sampled lost job stands, and its last events.
_LOST_DETAIL = text(
    """
    SELECT j.id, j.state, j.attempts, coalesce(j.worker_id, '-') AS worker,
           coalesce(j.wait_reason, '') AS wait_reason,
           (SELECT string_agg(concat_ws(' ', coalesce(e.from_state, 'new') || '>' || e.to_state,
                                        'a' || e.attempt, e.worker_id, e.reason), ' | '
                              ORDER BY e.id)
            FROM (SELECT * FROM job_events WHERE job_id = j.id ORDER BY id DESC LIMIT 4) e)
             AS trail
    FROM jobs j WHERE j.id = ANY(:ids) ORDER BY j.id
    """
)

# -- chaos_runs_presumed_lost -- runs the rescuer failed because their worker fell silent.
_PRESUMED_LOST = text(
    "SELECT count(*) FROM job_events WHERE from_state = 'running' "
    "AND to_state IN ('retrying', 'failed') AND reason LIKE 'WorkerLost:%'"
)

# -- chaos_order_violations -- edges whose dependent started before its dependency completed.
_ORDER_VIOLATIONS = text(
    """
    WITH done AS (
        SELECT job_id, min(at) AS at FROM job_events
        WHERE to_state = 'completed' AND from_state IS DISTINCT FROM to_state GROUP BY job_id
    ), started AS (
        SELECT job_id, min(at) AS at FROM job_events
        WHERE to_state = 'running' AND from_state IS DISTINCT FROM to_state GROUP BY job_id
    )
    SELECT d.depends_on_id AS dependency, d.job_id AS dependent
    FROM job_dependencies d
    JOIN started s ON s.job_id = d.job_id
    LEFT JOIN done c ON c.job_id = d.depends_on_id
    WHERE c.at IS NULL OR s.at <= c.at
    ORDER BY d.job_id
    """
)

# -- chaos_completions -- when each completion happened (seconds since the epoch), in order.
_COMPLETIONS = text(
    """
    SELECT extract(epoch FROM at)::float8 AS at_s FROM job_events
    WHERE to_state = 'completed' AND from_state = 'running' ORDER BY at
    """
)

# -- chaos_runs -- every run: when it began and when it ended (NULL: never), by attempt.
_RUNS = text(
    """
    WITH began AS (
        SELECT job_id, attempt, min(at) AS at FROM job_events
        WHERE to_state = 'running' AND from_state IS DISTINCT FROM to_state
        GROUP BY job_id, attempt
    ), ended AS (
        SELECT job_id, attempt, min(at) AS at FROM job_events
        WHERE from_state = 'running' AND to_state <> 'running'
        GROUP BY job_id, attempt
    )
    SELECT b.job_id, extract(epoch FROM b.at)::float8 AS began,
           extract(epoch FROM e.at)::float8 AS ended
    FROM began b LEFT JOIN ended e USING (job_id, attempt)
    """
)

# -- chaos_waits -- every stay in QUEUED: when it began and when it ended (NULL: never).
_WAITS = text(
    """
    SELECT extract(epoch FROM at)::float8 AS began, extract(epoch FROM next_at)::float8 AS ended
    FROM (
        SELECT to_state, at, lead(at) OVER (PARTITION BY job_id ORDER BY id) AS next_at
        FROM job_events WHERE from_state IS DISTINCT FROM to_state
    ) e
    WHERE to_state = 'queued'
    """
)


@dataclass(frozen=True, slots=True)
class Tally:
    """The loss columns of one scenario's row."""

    submitted: int
    completed: int
    failed_expected: int
    unexpected: int
    lost: int
    completed_twice: int
    order_violations: int
    presumed_lost_runs: int = 0
    """Runs failed as ``WorkerLost`` (an attempt spent): expected where workers die."""
    lost_ids: tuple[int, ...] = ()
    unexpected_ids: tuple[int, ...] = ()
    completed_twice_ids: tuple[int, ...] = ()
    violating_edges: tuple[tuple[int, int], ...] = ()
    lost_detail: tuple[str, ...] = ()
    """For the sampled lost jobs: state, attempt, worker, wait reason and last events."""

    @property
    def clean(self) -> bool:
        """Nothing lost, nothing completed twice, no dependency ran early."""
        return self.lost == 0 and self.completed_twice == 0 and self.order_violations == 0


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault: when it was injected and when it was over (the server back, the kill
    or purge done). Wall-clock times of this machine, which PostgreSQL shares."""

    began: datetime
    ended: datetime


async def tally(db: Database) -> Tally:
    """Count every job's outcome and check the audit trail for duplicates and order."""
    async with db.connection() as conn:
        row = (await conn.execute(_TALLY)).one()
        twice = [r.job_id for r in await conn.execute(_COMPLETED_TWICE)]
        edges = [(r.dependency, r.dependent) for r in await conn.execute(_ORDER_VIOLATIONS)]
        presumed_lost = int(await conn.scalar(_PRESUMED_LOST) or 0)
        lost_ids = list(row.lost_ids or ())
        detail: list[str] = []
        if lost_ids:
            for r in await conn.execute(_LOST_DETAIL, {"ids": lost_ids}):
                reason = f" ({r.wait_reason})" if r.wait_reason else ""
                detail.append(
                    f"job {r.id}: {r.state} attempt {r.attempts} on {r.worker}{reason}; "
                    f"last events: {r.trail}"
                )
    unexpected = tuple(row.unexpected_ids or ())
    return Tally(
        submitted=row.submitted,
        completed=row.completed,
        failed_expected=row.failed_expected,
        unexpected=len(unexpected),
        lost=row.lost,
        completed_twice=len(twice),
        order_violations=len(edges),
        presumed_lost_runs=presumed_lost,
        lost_ids=tuple(row.lost_ids or ()),
        unexpected_ids=unexpected[:SAMPLE],
        completed_twice_ids=tuple(twice[:SAMPLE]),
        violating_edges=tuple(edges[:SAMPLE]),
        lost_detail=tuple(detail),
    )


@dataclass(frozen=True, slots=True)
class Timeline:
    """Completions and runs of a scenario, for recovery times."""

    completions: tuple[float, ...]
    """Sorted epoch seconds of every completion."""
    runs: tuple[tuple[float, float | None], ...]
    """(began, ended) epoch seconds of every run; ended None when it never ended."""
    waits: tuple[tuple[float, float | None], ...] = ()
    """(began, ended) epoch seconds of every stay in QUEUED; ended None: still queued."""


async def timeline(db: Database) -> Timeline:
    """Read the completion times and the runs from the audit trail."""
    async with db.connection() as conn:
        completions = tuple(r.at_s for r in await conn.execute(_COMPLETIONS))
        runs = tuple((r.began, r.ended) for r in await conn.execute(_RUNS))
        waits = tuple((r.began, r.ended) for r in await conn.execute(_WAITS))
    return Timeline(completions, runs, waits)


@dataclass(frozen=True, slots=True)
class Recovery:
    """The slowest recovery of a scenario, and what it waited for."""

    seconds: float
    """From the end of the fault until the engine was whole again (``inf``: never)."""
    in_flight_s: float
    """From the end of the fault until the last run in flight at the fault had ended."""
    rate_s: float
    """From the end of the fault until completions ran at half the pre-fault rate."""
    wait_s: float
    """From the end of the fault until the jobs it left waiting longer than usual started."""

    def describe(self) -> str:
        """One phrase for the notes."""
        if math.isinf(self.in_flight_s):
            return "a run in flight at the fault never ended"
        if math.isinf(self.wait_s):
            return "a job queued at the fault never started"
        return (
            f"after the fault: runs in flight ended {self.in_flight_s:+.1f} s, completion rate "
            f"back {self.rate_s:+.1f} s, jobs it held up started {self.wait_s:+.1f} s"
        )


def recovery(line: Timeline, faults: Sequence[Fault]) -> Recovery | None:
    """How long after a fault the engine was whole again; the slowest of ``faults``.
    ``None`` without faults.

    Whole again means all three:

    - every run that was in flight when the fault began has ended (finished, or
      handed back to be retried: a killed worker's runs end when the rescuer
      notices the silence);
    - completions are back to at least half the rate of the five seconds before
      the fault, over a one-second window (or the work ran out: the last
      completion of the scenario ends the wait);
    - every job that was queued while the fault lasted and waited longer than
      any job of the five seconds before it (plus a second, and not counting
      the fault's own duration) has been picked up: jobs whose message was
      purged or never published, or whose queue had no worker, wait for the
      reconciler or the restart.
    """
    worst: Recovery | None = None
    for fault in faults:
        began, ended = fault.began.timestamp(), fault.ended.timestamp()
        in_flight_end = began
        for start, end in line.runs:
            if start < began and (end is None or end >= began):
                in_flight_end = max(in_flight_end, math.inf if end is None else end)
        rate_back = _rate_back(line.completions, began, ended)
        waits_back = _waits_back(line.waits, began, ended)
        found = Recovery(
            max(0.0, max(in_flight_end, rate_back, waits_back) - ended),
            in_flight_end - ended,
            rate_back - ended,
            waits_back - ended,
        )
        if worst is None or found.seconds > worst.seconds:
            worst = found
    return worst


def _rate_back(completions: Sequence[float], began: float, ended: float) -> float:
    """When completions first ran at half the pre-fault rate again, after ``ended``: the
    first completion of the first one-second window that reaches the rate."""
    if not completions:
        return ended
    first, last = completions[0], completions[-1]
    if last <= ended:
        return ended  # everything was done by the time the fault was over
    span = min(BASELINE_S, began - first)
    if span >= RATE_WINDOW_S:
        before = bisect.bisect_left(completions, began) - bisect.bisect_left(
            completions, began - span
        )
        baseline = before / span
    else:  # a fault right at the start: compare with the run's overall rate
        baseline = len(completions) / max(last - first, RATE_WINDOW_S)
    needed = max(1.0, RECOVERED_SHARE * baseline * RATE_WINDOW_S)
    t = ended
    while t <= last:
        first_inside = bisect.bisect_left(completions, t)
        inside = bisect.bisect_left(completions, t + RATE_WINDOW_S) - first_inside
        if inside >= needed:
            return max(ended, completions[first_inside])  # the window's first completion
        t += RATE_STEP_S
    return last


def _waits_back(waits: Sequence[tuple[float, float | None]], began: float, ended: float) -> float:
    """When the last job that waited through the fault, and (the fault's own duration
    aside) longer than any job had waited in the five seconds before it, was picked up
    (``inf``: one waits still)."""
    normal = max(
        (e - b for b, e in waits if e is not None and began - BASELINE_S <= e <= began),
        default=0.0,
    )
    back = ended
    for b, e in waits:
        if b > ended or (e is not None and e < began):
            continue  # not waiting while the fault lasted
        if e is None:
            return math.inf
        # Waiting out the fault itself is the outage, not a slow recovery from it.
        outage = min(e, ended) - max(b, began)
        if e - b - outage > normal + WAIT_SLACK_S:
            back = max(back, e)
    return back
