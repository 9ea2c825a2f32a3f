"""Queries of the operations features: queue settings, schedules, TTL expiry, retention.

Same conventions as the other query modules: one name per statement, noun
first, batched statements take arrays. Tables: ``queues`` (pause, limit),
``schedules`` and ``schedule_fires``, and the retention deletes across ``jobs``
and its children.
"""

from sqlalchemy import text

FINISHED = "('completed', 'failed', 'cancelled')"
LIVE = "('pending', 'queued', 'running', 'retrying', 'blocked')"

# ---------------------------------------------------------------------------
# queues: pause, resume, limit
# ---------------------------------------------------------------------------

# -- queue_lock -- one queue's settings, locked while an operator changes them.
QUEUE_LOCK = text("SELECT name, paused, max_waiting FROM queues WHERE name = :name FOR UPDATE")

# -- queue_set_paused -- pause or resume a queue; creates the row for a queue never used yet,
# -- so a queue can be paused before its first job arrives.
QUEUE_SET_PAUSED = text(
    """
    INSERT INTO queues AS q (name, paused) VALUES (:name, :paused)
    ON CONFLICT (name) DO UPDATE SET paused = EXCLUDED.paused, updated_at = now()
    RETURNING q.name, q.paused, q.max_waiting
    """
)

# -- queue_set_limit -- set or clear (NULL) the most jobs that may wait in a queue.
QUEUE_SET_LIMIT = text(
    """
    INSERT INTO queues AS q (name, max_waiting) VALUES (:name, :max_waiting)
    ON CONFLICT (name) DO UPDATE SET max_waiting = EXCLUDED.max_waiting, updated_at = now()
    RETURNING q.name, q.paused, q.max_waiting
    """
)

# -- queue_limits_lock -- the limited queues a submission adds to, locked in name order so
# -- two submissions to one full queue take turns and cannot both squeeze past the limit.
QUEUE_LIMITS_LOCK = text(
    """
    SELECT name, max_waiting FROM queues
    WHERE name = ANY(CAST(:names AS text[])) AND max_waiting IS NOT NULL
    ORDER BY name FOR UPDATE
    """
)

# -- count_waiting -- jobs waiting per queue (the given states), from the count tables:
# -- folded totals plus unfolded deltas, never a scan of jobs.
COUNT_WAITING = text(
    """
    SELECT queue, coalesce(sum(n), 0)::bigint AS waiting FROM (
        SELECT queue, count AS n FROM queue_state_counts
        WHERE queue = ANY(CAST(:queues AS text[])) AND state = ANY(CAST(:states AS text[]))
        UNION ALL
        SELECT queue, delta FROM queue_state_deltas
        WHERE queue = ANY(CAST(:queues AS text[])) AND state = ANY(CAST(:states AS text[]))
    ) c GROUP BY queue
    """
)

# -- job_queued_of_queue -- a batch of a queue's QUEUED jobs by id, to publish on resume.
JOB_QUEUED_OF_QUEUE = text(
    """
    SELECT id, attempts, queue, priority FROM jobs
    WHERE state = 'queued' AND queue = :queue AND id > :after
    ORDER BY id LIMIT :limit
    """
)

# ---------------------------------------------------------------------------
# jobs: TTL expiry
# ---------------------------------------------------------------------------

# -- job_expire_due -- QUEUED -> CANCELLED for jobs whose TTL (counted from queued_at) ran
# -- out on the database clock. SKIP LOCKED: several engines share the work, and a job a
# -- worker is claiming right now is left to the claim.
JOB_EXPIRE_DUE = text(
    """
    WITH due AS (
        SELECT id FROM jobs
        WHERE state = 'queued' AND ttl_s IS NOT NULL
          AND job_queued_expiry(queued_at, ttl_s) <= now()
        ORDER BY job_queued_expiry(queued_at, ttl_s)
        LIMIT :limit FOR UPDATE SKIP LOCKED
    )
    UPDATE jobs j SET state = 'cancelled', finished_at = now(), run_at = NULL,
        wait_reason = :reason, version = j.version + 1
    FROM due WHERE j.id = due.id AND j.state = 'queued'
    RETURNING j.id, j.queue, j.type, j.priority, j.attempts, j.queued_at, j.finished_at,
              j.version
    """
)

# -- job_next_expiry_in -- seconds until the next queued job expires (NULL: none has a TTL).
JOB_NEXT_EXPIRY_IN = text(
    """
    SELECT extract(epoch FROM min(job_queued_expiry(queued_at, ttl_s)) - now())::float8
    FROM jobs WHERE state = 'queued' AND ttl_s IS NOT NULL
    """
)

# ---------------------------------------------------------------------------
# schedules
# ---------------------------------------------------------------------------

SCHEDULE_COLUMNS = """
    s.id, s.name, s.cron, s.tz, s.type, s.payload, s.queue, s.priority, s.max_retries,
    s.timeout_s, s.ttl_s, s.paused, s.next_fire_at, s.last_tick, s.last_job_id, s.created_at
"""

# -- db_now -- the database clock, which owns every schedule.
DB_NOW = text("SELECT now()")

# -- schedule_insert -- a new schedule; nothing when the name is taken.
SCHEDULE_INSERT = text(
    f"""
    INSERT INTO schedules AS s (name, cron, tz, type, payload, queue, priority, max_retries,
                                timeout_s, ttl_s, next_fire_at)
    VALUES (:name, :cron, :tz, :type, CAST(:payload AS jsonb), :queue, :priority,
            :max_retries, :timeout_s, :ttl_s, :next_fire_at)
    ON CONFLICT (name) DO NOTHING
    RETURNING {SCHEDULE_COLUMNS}
    """
)

# -- schedule_list -- every schedule by name.
SCHEDULE_LIST = text(f"SELECT {SCHEDULE_COLUMNS} FROM schedules s ORDER BY s.name")

# -- schedule_lock -- one schedule by name, locked for an operator's change.
SCHEDULE_LOCK = text(f"SELECT {SCHEDULE_COLUMNS} FROM schedules s WHERE s.name = :name FOR UPDATE")

# -- schedule_delete -- remove a schedule (its fire history goes with it).
SCHEDULE_DELETE = text("DELETE FROM schedules WHERE name = :name RETURNING id")

# -- schedule_set_paused -- pause, or resume from the next tick after now.
SCHEDULE_SET_PAUSED = text(
    f"""
    UPDATE schedules s SET paused = :paused, next_fire_at = :next_fire_at, updated_at = now()
    WHERE s.id = :id
    RETURNING {SCHEDULE_COLUMNS}
    """
)

# -- schedule_due -- schedules whose tick has come, locked; SKIP LOCKED so two engines never
# -- wait on (or fire) the same schedule at once.
SCHEDULE_DUE = text(
    f"""
    SELECT {SCHEDULE_COLUMNS}, now() AS db_now FROM schedules s
    WHERE NOT s.paused AND s.next_fire_at <= now()
    ORDER BY s.next_fire_at, s.id LIMIT :limit
    FOR UPDATE SKIP LOCKED
    """
)

# -- schedule_fire_insert -- claim one tick of a schedule; no row back means it already fired.
SCHEDULE_FIRE_INSERT = text(
    """
    INSERT INTO schedule_fires (schedule_id, tick, missed) VALUES (:schedule_id, :tick, :missed)
    ON CONFLICT (schedule_id, tick) DO NOTHING
    RETURNING tick
    """
)

# -- schedule_fire_set_outcome -- the job a fire submitted, or why it submitted none.
SCHEDULE_FIRE_SET_OUTCOME = text(
    """
    UPDATE schedule_fires SET job_id = :job_id, note = :note
    WHERE schedule_id = :schedule_id AND tick = :tick
    """
)

# -- schedule_advance -- the next tick to wait for, and what the last one did.
SCHEDULE_ADVANCE = text(
    """
    UPDATE schedules SET next_fire_at = :next_fire_at, last_tick = :tick,
        last_job_id = coalesce(:job_id, last_job_id), updated_at = now()
    WHERE id = :id
    """
)

# -- schedule_next_due_in -- seconds until the next unpaused schedule is due (NULL: none).
SCHEDULE_NEXT_DUE_IN = text(
    """
    SELECT extract(epoch FROM min(next_fire_at) - now())::float8
    FROM schedules WHERE NOT paused
    """
)

# -- schedule_fires_recent -- a schedule's latest fires, newest first.
SCHEDULE_FIRES_RECENT = text(
    """
    SELECT tick, fired_at, job_id, missed, note FROM schedule_fires
    WHERE schedule_id = :schedule_id ORDER BY tick DESC LIMIT :limit
    """
)

# ---------------------------------------------------------------------------
# retention
# ---------------------------------------------------------------------------

# -- retention_cutoff -- finished before this (database clock) is old enough to remove.
RETENTION_CUTOFF = text("SELECT now() - make_interval(secs => :age_s)")


def _prunable(j: str) -> str:
    """SQL condition: job ``j`` is finished before the cutoff, its workflow has no live job,
    and no live job depends on it (a BLOCKED dependent needs it to be retried)."""
    return f"""
        {j}.state IN {FINISHED} AND {j}.finished_at < :cutoff
        AND ({j}.workflow_id IS NULL OR NOT EXISTS (
            SELECT 1 FROM jobs l WHERE l.workflow_id = {j}.workflow_id AND l.state IN {LIVE}))
        AND NOT EXISTS (
            SELECT 1 FROM job_dependencies dd JOIN jobs k ON k.id = dd.job_id
            WHERE dd.depends_on_id = {j}.id AND k.state IN {LIVE})
    """


# -- retention_candidates -- the next batch of finished jobs older than the cutoff, oldest
# -- first, keyset-paginated on (finished_at, id) so kept jobs are not read again.
RETENTION_CANDIDATES = text(
    f"""
    SELECT id, finished_at FROM jobs
    WHERE state IN {FINISHED} AND finished_at < :cutoff
      AND (finished_at, id) > (CAST(:after_at AS timestamptz), CAST(:after_id AS bigint))
    ORDER BY finished_at, id LIMIT :limit
    """
)

# -- retention_victims -- of some candidates, those that may go, locked; SKIP LOCKED leaves
# -- a job an operator is retrying right now to the next run.
RETENTION_VICTIMS = text(
    f"""
    SELECT j.id, j.queue, j.state, j.workflow_id FROM jobs j
    WHERE j.id = ANY(CAST(:ids AS bigint[])) AND {_prunable("j")}
    ORDER BY j.id FOR UPDATE OF j SKIP LOCKED
    """
)

# -- retention_preview -- of some candidates, those that may go (dry run, no locks).
RETENTION_PREVIEW = text(
    f"""
    SELECT j.id, j.queue, j.state, j.workflow_id FROM jobs j
    WHERE j.id = ANY(CAST(:ids AS bigint[])) AND {_prunable("j")}
    """
)

# -- retention_delete -- remove locked victims with their edges, events and logs, and take
# -- them off the per-(queue, state) counts, in one statement.
RETENTION_DELETE = text(
    """
    WITH deps AS (
        DELETE FROM job_dependencies
        WHERE job_id = ANY(CAST(:ids AS bigint[])) OR depends_on_id = ANY(CAST(:ids AS bigint[]))
        RETURNING 1
    ), events AS (
        DELETE FROM job_events WHERE job_id = ANY(CAST(:ids AS bigint[])) RETURNING 1
    ), logs AS (
        DELETE FROM job_logs WHERE job_id = ANY(CAST(:ids AS bigint[])) RETURNING 1
    ), gone AS (
        DELETE FROM jobs WHERE id = ANY(CAST(:ids AS bigint[])) RETURNING queue, state
    ), counted AS (  -- runs although nothing reads it, as every data-modifying WITH does
        INSERT INTO queue_state_deltas (queue, state, delta)
        SELECT queue, state, -count(*) FROM gone GROUP BY queue, state ORDER BY queue, state
    )
    SELECT (SELECT count(*) FROM deps) AS dependencies,
           (SELECT count(*) FROM events) AS events,
           (SELECT count(*) FROM logs) AS logs
    """
)

# -- retention_preview_children -- what RETENTION_DELETE would remove with some victims. An
# -- edge between two removable jobs is counted once, with its dependent, as the real run
# -- removes it once.
RETENTION_PREVIEW_CHILDREN = text(
    f"""
    SELECT
        (SELECT count(*) FROM job_dependencies WHERE job_id = ANY(CAST(:ids AS bigint[])))
        + (SELECT count(*) FROM job_dependencies d JOIN jobs j ON j.id = d.job_id
           WHERE d.depends_on_id = ANY(CAST(:ids AS bigint[]))
             AND NOT coalesce(({_prunable("j")}), false)) AS dependencies,
        (SELECT count(*) FROM job_events WHERE job_id = ANY(CAST(:ids AS bigint[]))) AS events,
        (SELECT count(*) FROM job_logs WHERE job_id = ANY(CAST(:ids AS bigint[]))) AS logs
    """
)

# -- workflow_delete_empty -- workflows whose last job was removed.
WORKFLOW_DELETE_EMPTY = text(
    """
    DELETE FROM workflows w WHERE w.id = ANY(CAST(:ids AS bigint[]))
      AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.workflow_id = w.id)
    """
)

# -- retention_kept -- finished jobs older than the cutoff that were kept (live workflow or
# -- live dependent, or locked by an operator at that moment).
RETENTION_KEPT = text(
    f"SELECT count(*) FROM jobs WHERE state IN {FINISHED} AND finished_at < :cutoff"
)

# -- schedule_fire_prune -- a batch of fire history older than the cutoff.
SCHEDULE_FIRE_PRUNE = text(
    """
    WITH old AS (
        SELECT schedule_id, tick FROM schedule_fires WHERE fired_at < :cutoff
        ORDER BY fired_at LIMIT :limit FOR UPDATE SKIP LOCKED
    )
    DELETE FROM schedule_fires f USING old
    WHERE f.schedule_id = old.schedule_id AND f.tick = old.tick
    """
)

# -- schedule_fire_count_old -- fire history older than the cutoff (dry run).
SCHEDULE_FIRE_COUNT_OLD = text("SELECT count(*) FROM schedule_fires WHERE fired_at < :cutoff")
