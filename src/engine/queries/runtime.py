"""Queries of the runtime: worker registration and heartbeats, rescue, deferral, reconcile."""

from sqlalchemy import text

from engine.queries.jobs import among, locked_rows

# -- worker_register -- a worker process announces itself (a restarted id starts afresh).
WORKER_REGISTER = text(
    """
    INSERT INTO workers (id, host, pid, queues, state, supervisor_id, max_memory_mb)
    VALUES (:id, :host, :pid, :queues, 'starting', :supervisor_id, :max_memory_mb)
    ON CONFLICT (id) DO UPDATE SET host = EXCLUDED.host, pid = EXCLUDED.pid,
        queues = EXCLUDED.queues, state = 'starting', supervisor_id = EXCLUDED.supervisor_id,
        max_memory_mb = EXCLUDED.max_memory_mb, started_at = now(), heartbeat_at = now(),
        stopped_at = NULL, current_job_id = NULL, jobs_done = 0, jobs_failed = 0
    """
)

# -- worker_heartbeat -- liveness by the database clock; returns false once presumed lost.
WORKER_HEARTBEAT = text(
    """
    UPDATE workers SET heartbeat_at = now(), state = :state, current_job_id = :current_job_id,
        rss_bytes = :rss_bytes, cpu_percent = :cpu_percent, jobs_done = :jobs_done,
        jobs_failed = :jobs_failed
    WHERE id = :id AND stopped_at IS NULL
    RETURNING id
    """
)

# -- worker_stop -- a worker that exits (or is presumed lost) is never live again.
WORKER_STOP = text(
    "UPDATE workers SET stopped_at = now(), state = :state, current_job_id = NULL WHERE id = :id"
)

# -- workers_overdue -- live workers whose heartbeat is older than the limit.
WORKERS_MARK_LOST = text(
    """
    UPDATE workers SET stopped_at = now(), state = 'lost', current_job_id = NULL
    WHERE stopped_at IS NULL AND heartbeat_at < now() - make_interval(secs => :after_s)
    RETURNING id
    """
)

# -- workers_forget -- stopped workers older than a day leave the workers pane.
WORKERS_FORGET = text(
    "DELETE FROM workers WHERE stopped_at < now() - make_interval(secs => :after_s)"
)

# -- jobs_orphaned -- RUNNING jobs whose worker is gone (stopped, lost, never registered),
# -- or that ran past their timeout plus a grace (their worker could not stop them).
JOBS_ORPHANED = text(
    """
    SELECT j.id, j.attempts,
           CASE WHEN w.id IS NULL OR w.stopped_at IS NOT NULL THEN 'lost' ELSE 'timeout' END
             AS why,
           j.timeout_s, j.worker_id
    FROM jobs j LEFT JOIN workers w ON w.id = j.worker_id
    WHERE j.state = 'running'
      AND (w.id IS NULL OR w.stopped_at IS NOT NULL
           OR (j.timeout_s IS NOT NULL
               AND j.started_at < now() - make_interval(secs => j.timeout_s + :grace_s)))
      AND j.started_at < now() - make_interval(secs => :min_age_s)
    ORDER BY j.id
    LIMIT :limit
    """
)

# -- jobs_not_mine -- of the runs a worker holds, those it no longer owns (cancelled,
# -- rescued and handed elsewhere): the worker stops them.
JOBS_NOT_MINE = text(
    """
    SELECT c.id, c.attempt FROM unnest(CAST(:ids AS bigint[]), CAST(:attempts AS int[]))
        AS c(id, attempt)
    LEFT JOIN LATERAL (SELECT state, attempts FROM jobs WHERE jobs.id = c.id OFFSET 0) j
        ON true
    WHERE j.state IS DISTINCT FROM 'running' OR j.attempts <> c.attempt
    """
)

# -- job_defer_many -- RUNNING -> RETRYING later without spending an attempt: the job could
# -- not start here (no handler, not enough memory); the reason stays visible.
JOB_DEFER_MANY = text(
    f"""
    WITH c AS (
        SELECT * FROM unnest(CAST(:ids AS bigint[]), CAST(:attempts AS int[])) AS c(id, attempt)
    ), target AS (
        SELECT j.id FROM {locked_rows("c")}
        WHERE j.state = 'running' AND j.attempts = c.attempt
    )
    UPDATE jobs j SET state = 'retrying', budget_base = j.budget_base + 1,
        run_at = now() + make_interval(secs => :delay_s), started_at = NULL, worker_id = NULL,
        wait_reason = :reason, version = j.version + 1
    WHERE {among("target")}
    RETURNING j.id, j.queue, j.priority, j.type, j.attempts, j.version
    """
)

# -- queued_per_queue -- how many jobs wait in each unpaused queue (reconciler).
QUEUED_PER_QUEUE = text(
    """
    SELECT j.queue, count(*) AS queued,
           count(*) FILTER (WHERE j.queued_at < now() - make_interval(secs => :after_s))
             AS stale
    FROM jobs j
    WHERE j.state = 'queued'
      AND NOT EXISTS (SELECT 1 FROM queues q WHERE q.name = j.queue AND q.paused)
    GROUP BY j.queue
    """
)

# -- queued_stale -- the oldest unclaimed jobs of a queue, to publish again.
QUEUED_STALE = text(
    """
    SELECT id, attempts, queue, priority FROM jobs
    WHERE state = 'queued' AND queue = :queue
      AND queued_at < now() - make_interval(secs => :after_s)
      AND id <> ALL(CAST(:recent AS bigint[]))
    ORDER BY priority DESC, queued_at
    LIMIT :limit
    """
)
