"""Queries on ``dead_letters`` and ``dead_letter_sweeps``: what the broker's dead-letter
queue holds, as its last sweep saw it.

A copy in ``NS.dead`` records one failure: (job id, attempt). Attempts only grow
(a retry moves the budget's base, not the count), so the pair names one failure
for good. A copy is *current* while its job is FAILED at that attempt and no
operator purged it; every other copy is stale and the sweeper removes it.
"""

from engine.db.sql import Sql
from engine.queries.jobs import JOB_FAILURE_GROUP_KEY

SWEEP_NAME = "dead"  # the one row of dead_letter_sweeps

# -- dead_letter_lease_take -- the sweep lease, if nobody else holds a live one; returns
# -- the database time the sweep starts at (no row: someone else is sweeping).
DEAD_LETTER_LEASE_TAKE = Sql(
    f"""
    INSERT INTO dead_letter_sweeps AS s (name, holder, lease_until, started_at)
    VALUES ('{SWEEP_NAME}', :holder, now() + make_interval(secs => :lease_s), now())
    ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder,
        lease_until = EXCLUDED.lease_until, started_at = EXCLUDED.started_at
    WHERE s.lease_until < now() OR s.holder = EXCLUDED.holder
    RETURNING started_at
    """
)

# -- dead_letter_lease_release -- give the lease back; a complete sweep records when it
# -- started (failures before then are reflected in dead_letters) and what it did.
DEAD_LETTER_LEASE_RELEASE = Sql(
    f"""
    UPDATE dead_letter_sweeps SET holder = NULL, lease_until = now(),
        swept_at = CASE WHEN :complete THEN started_at ELSE swept_at END,
        kept = CASE WHEN :complete THEN :kept ELSE kept END,
        removed = CASE WHEN :complete THEN :removed ELSE removed END
    WHERE name = '{SWEEP_NAME}' AND holder = :holder
    """
)

# -- dead_letter_current -- of the copies a sweep read (delivery tag, job, attempt), those
# -- that stay: the job is FAILED at that attempt and that failure was not purged.
DEAD_LETTER_CURRENT = Sql(
    """
    SELECT s.tag, s.job_id, j.attempts AS attempt, j.finished_at
    FROM unnest(CAST(:tags AS bigint[]), CAST(:ids AS bigint[]), CAST(:attempts AS int[]))
         AS s(tag, job_id, attempt)
    JOIN jobs j ON j.id = s.job_id AND j.state = 'failed' AND j.attempts = s.attempt
    LEFT JOIN dead_letters d ON d.job_id = s.job_id
    WHERE d.purged_at IS NULL OR d.attempt IS DISTINCT FROM j.attempts
    """
)

# -- dead_letter_record_seen -- the copies a complete sweep kept are in the broker (rows
# -- that say so already are left alone: a sweep of a full queue rewrites nothing).
DEAD_LETTER_RECORD_SEEN = Sql(
    """
    INSERT INTO dead_letters AS d (job_id, failed_at, attempt, in_broker, checked_at, purged_at)
    SELECT id, failed_at, attempt, true, now(), NULL
    FROM unnest(CAST(:ids AS bigint[]), CAST(:failed AS timestamptz[]),
                CAST(:attempts AS int[])) AS k(id, failed_at, attempt)
    ON CONFLICT (job_id) DO UPDATE SET failed_at = EXCLUDED.failed_at,
        attempt = EXCLUDED.attempt, in_broker = true, checked_at = now(), purged_at = NULL
    WHERE NOT d.in_broker OR d.attempt IS DISTINCT FROM EXCLUDED.attempt
       OR d.purged_at IS NOT NULL
    """
)

# -- dead_letter_record_unseen -- every other copy believed in the broker is not (dropped
# -- by the bounds, removed, or never published).
DEAD_LETTER_RECORD_UNSEEN = Sql(
    """
    UPDATE dead_letters d SET in_broker = false, checked_at = now()
    WHERE d.in_broker
      AND NOT EXISTS (SELECT 1 FROM unnest(CAST(:ids AS bigint[])) AS k(id)
                      WHERE k.id = d.job_id)
    """
)

# -- dead_letter_forget -- rows of failures that are over (retried, replayed, pruned): the
# -- sweep that calls this has removed their copies.
DEAD_LETTER_FORGET = Sql(
    """
    DELETE FROM dead_letters d
    WHERE NOT EXISTS (SELECT 1 FROM jobs j
                      WHERE j.id = d.job_id AND j.state = 'failed' AND j.attempts = d.attempt)
    """
)

# -- dead_letter_mark_dirty -- a failure ended (retried, pruned): its copy is stale, and
# -- the engines' dead-letter services sweep at their next check.
DEAD_LETTER_MARK_DIRTY = Sql(
    f"""
    INSERT INTO dead_letter_sweeps AS s (name, dirty_at) VALUES ('{SWEEP_NAME}', now())
    ON CONFLICT (name) DO UPDATE SET dirty_at = now()
    """
)

# -- dead_letter_due -- whether a sweep has work: a failure ended since the last sweep
# -- started (copies to remove), failures since then (copies to look for, found by
# -- jobs_finished_at_idx), and how long ago that sweep started (database clock).
DEAD_LETTER_DUE = Sql(
    f"""
    WITH last AS (
        SELECT swept_at, dirty_at FROM dead_letter_sweeps WHERE name = '{SWEEP_NAME}'
    )
    SELECT
        coalesce((SELECT dirty_at >= coalesce(swept_at, '-infinity') FROM last), false)
            AS dirty,
        EXISTS (SELECT 1 FROM jobs WHERE state = 'failed'
                AND finished_at >= coalesce((SELECT swept_at FROM last), '-infinity'))
            AS unseen,
        extract(epoch FROM now() - (SELECT swept_at FROM last))::float8 AS since_s
    """
)

# -- dead_letter_mark_purged -- an operator's purge: the current failures that finished
# -- before :before (all, when null) lose their copy; the sweep that follows removes them.
DEAD_LETTER_MARK_PURGED = Sql(
    """
    INSERT INTO dead_letters (job_id, failed_at, attempt, in_broker, checked_at, purged_at)
    SELECT id, finished_at, attempts, false, now(), now() FROM jobs
    WHERE state = 'failed'
      AND (CAST(:before AS timestamptz) IS NULL OR finished_at < CAST(:before AS timestamptz))
    ON CONFLICT (job_id) DO UPDATE SET failed_at = EXCLUDED.failed_at,
        attempt = EXCLUDED.attempt, in_broker = false, checked_at = now(), purged_at = now()
    RETURNING job_id
    """
)

# -- dead_letter_cutoff -- now minus an age, by the database clock.
DEAD_LETTER_CUTOFF = Sql("SELECT now() - make_interval(secs => :age_s)")

_IN_BROKER = "coalesce(d.in_broker AND d.attempt = j.attempts AND d.purged_at IS NULL, false)"

# -- dead_letter_list -- FAILED jobs, newest first, with whether the last sweep saw their
# -- copy in the broker; optionally one failure group only.
DEAD_LETTER_LIST = Sql(
    f"""
    SELECT j.id, j.type, j.queue, j.attempts, j.finished_at, j.error_type, j.error_message,
           {JOB_FAILURE_GROUP_KEY.replace("error_", "j.error_")} AS fingerprint,
           {_IN_BROKER} AS in_broker
    FROM jobs j LEFT JOIN dead_letters d ON d.job_id = j.id
    WHERE j.state = 'failed'
      AND (CAST(:fingerprint AS text) IS NULL
           OR {JOB_FAILURE_GROUP_KEY.replace("error_", "j.error_")} = :fingerprint)
    ORDER BY j.id DESC
    LIMIT :limit
    """
)

# -- dead_letter_in_broker -- which of these jobs' current failures have a copy in the
# -- broker, as the last sweep saw it (the console marks them).
DEAD_LETTER_IN_BROKER = Sql(
    f"""
    SELECT j.id FROM jobs j JOIN dead_letters d ON d.job_id = j.id
    WHERE j.id = ANY(CAST(:ids AS bigint[])) AND j.state = 'failed' AND {_IN_BROKER}
    """
)

# -- dead_letter_count -- failures whose copy the last sweep found in the broker.
DEAD_LETTER_COUNT = Sql(
    f"""
    SELECT count(*) FROM jobs j JOIN dead_letters d ON d.job_id = j.id
    WHERE j.state = 'failed' AND {_IN_BROKER}
    """
)

# -- dead_letter_states -- the state of each of these ids (absent: no such job), to refuse
# -- a replay of unknown or unfailed jobs before changing anything.
DEAD_LETTER_STATES = Sql(
    "SELECT id, state FROM jobs WHERE id = ANY(CAST(:ids AS bigint[])) ORDER BY id"
)

# -- dead_letter_last_sweep -- when the last complete sweep started and what it did.
DEAD_LETTER_LAST_SWEEP = Sql(
    f"SELECT swept_at, kept, removed FROM dead_letter_sweeps WHERE name = '{SWEEP_NAME}'"
)
