"""Queries on ``jobs``.

Every multi-row writer locks its rows ``ORDER BY id FOR UPDATE`` before
updating, so two writers always lock in the same order and cannot deadlock.
Conditional guards (``state = …``, ``attempts = …``) are re-checked by
PostgreSQL after a lock wait, which is what makes a duplicate claim harmless.
"""

from sqlalchemy import text

JOB_COLUMNS = """
    j.id, j.type, j.queue, j.priority, j.state, j.payload, j.idempotency_key, j.workflow_id,
    j.attempts, j.budget_base, j.max_retries, j.backoff_s, j.backoff_max_s, j.timeout_s,
    j.memory_mb, j.ttl_s, j.deps_remaining, j.run_at, j.created_at, j.queued_at,
    j.started_at, j.finished_at, j.worker_id, j.wait_reason, j.error_type, j.error_message,
    j.error_traceback, j.error_fingerprint, j.result, j.peak_rss_bytes, j.cpu_time_s,
    j.version
"""

# -- job_ids_allocate -- ids for a submission before its rows exist, so edges can name them.
JOB_IDS_ALLOCATE = text(
    "SELECT nextval(pg_get_serial_sequence('jobs', 'id')) FROM generate_series(1, :n)"
)

# -- job_insert_many -- a whole submission's jobs in one statement.
JOB_INSERT_MANY = text(
    """
    INSERT INTO jobs (id, type, queue, priority, state, payload, idempotency_key, workflow_id,
                      max_retries, backoff_s, backoff_max_s, timeout_s, memory_mb, ttl_s,
                      deps_remaining, queued_at, wait_reason)
    SELECT u.id, u.type, u.queue, u.priority, u.state, u.payload, u.key, u.workflow_id,
           u.max_retries, u.backoff_s, u.backoff_max_s, u.timeout_s, u.memory_mb, u.ttl_s,
           u.deps_remaining, CASE WHEN u.state = 'queued' THEN now() END, u.wait_reason
    FROM unnest(CAST(:ids AS bigint[]), CAST(:types AS text[]), CAST(:queues AS text[]),
                CAST(:priorities AS smallint[]), CAST(:states AS text[]),
                CAST(:payloads AS jsonb[]), CAST(:keys AS text[]),
                CAST(:workflow_ids AS bigint[]), CAST(:max_retries AS int[]),
                CAST(:backoffs AS real[]), CAST(:backoff_maxes AS real[]),
                CAST(:timeouts AS real[]), CAST(:memories AS int[]), CAST(:ttls AS real[]),
                CAST(:deps_remaining AS int[]), CAST(:wait_reasons AS text[]))
         AS u(id, type, queue, priority, state, payload, key, workflow_id, max_retries,
              backoff_s, backoff_max_s, timeout_s, memory_mb, ttl_s, deps_remaining,
              wait_reason)
    """
)

# -- job_share_many -- existing dependencies of a submission, locked so they cannot finish
# -- (and miss our new edges) until we commit.
JOB_SHARE_MANY = text(
    """
    SELECT id, state, workflow_id FROM jobs
    WHERE id = ANY(CAST(:ids AS bigint[])) ORDER BY id FOR SHARE
    """
)

# -- job_idempotency_lock -- serializes submissions that share an idempotency key.
JOB_IDEMPOTENCY_LOCK = text(
    """
    SELECT pg_advisory_xact_lock(:lock_class, hashtext(k))
    FROM unnest(CAST(:keys AS text[])) AS k ORDER BY k
    """
)

# -- job_live_by_keys -- the live job holding each idempotency key, if any.
JOB_LIVE_BY_KEYS = text(
    """
    SELECT id, idempotency_key, state, workflow_id FROM jobs
    WHERE idempotency_key = ANY(CAST(:keys AS text[]))
      AND state NOT IN ('completed', 'failed', 'cancelled')
    ORDER BY id FOR SHARE
    """
)

# -- job_lock -- one job, locked for a single-job transition (cancel, retry).
JOB_LOCK = text(f"SELECT {JOB_COLUMNS} FROM jobs j WHERE j.id = :id FOR UPDATE")

# -- job_get -- one job, unlocked.
JOB_GET = text(f"SELECT {JOB_COLUMNS} FROM jobs j WHERE j.id = :id")

# -- job_set_state -- a single-job transition after JOB_LOCK checked it is legal.
JOB_SET_STATE = text(
    """
    UPDATE jobs SET state = :state,
        queued_at = CASE WHEN :state = 'queued' THEN now() ELSE queued_at END,
        finished_at = CASE WHEN :state IN ('completed', 'failed', 'cancelled') THEN now()
                           ELSE NULL END,
        run_at = NULL,
        budget_base = CASE WHEN CAST(:fresh_budget AS boolean) THEN attempts
                           ELSE budget_base END,
        wait_reason = :wait_reason,
        version = version + 1
    WHERE id = :id
    RETURNING id, queue, priority, state, attempts, type, worker_id
    """
)

_CLAIM_BATCH = "unnest(CAST(:ids AS bigint[]), CAST(:attempts AS int[])) AS c(id, attempt)"

# -- job_claim_many -- QUEUED -> RUNNING for the messages a worker received; the attempt in
# -- each message must still be current, so a stale or duplicate message claims nothing.
JOB_CLAIM_MANY = text(
    f"""
    WITH target AS (
        SELECT j.id FROM jobs j JOIN {_CLAIM_BATCH} ON c.id = j.id
        WHERE j.state = 'queued' AND j.attempts = c.attempt
        ORDER BY j.id FOR UPDATE OF j
    )
    UPDATE jobs j SET state = 'running', attempts = j.attempts + 1, started_at = now(),
        finished_at = NULL, worker_id = :worker_id, wait_reason = NULL, version = j.version + 1
    FROM target WHERE j.id = target.id
    RETURNING j.id, j.type, j.queue, j.priority, j.payload, j.attempts, j.timeout_s,
              j.memory_mb, j.queued_at, j.started_at, j.workflow_id
    """
)

# -- job_state_many -- current state and attempt of jobs, to explain a refused claim.
JOB_STATE_MANY = text(
    "SELECT id, queue, type, state, attempts FROM jobs WHERE id = ANY(CAST(:ids AS bigint[]))"
)

# -- job_complete_many -- RUNNING -> COMPLETED, fenced by the attempt that ran.
JOB_COMPLETE_MANY = text(
    """
    WITH c AS (
        SELECT * FROM unnest(CAST(:ids AS bigint[]), CAST(:attempts AS int[]),
                             CAST(:results AS jsonb[]), CAST(:peak_rss AS bigint[]),
                             CAST(:cpu_times AS real[]), CAST(:started AS timestamptz[]))
               AS c(id, attempt, result, peak_rss, cpu_time, started)
    ), target AS (
        SELECT j.id FROM jobs j JOIN c ON c.id = j.id
        WHERE j.state = 'running' AND j.attempts = c.attempt
        ORDER BY j.id FOR UPDATE OF j
    )
    UPDATE jobs j SET state = 'completed', finished_at = now(), result = c.result,
        started_at = coalesce(c.started, j.started_at),
        peak_rss_bytes = c.peak_rss, cpu_time_s = c.cpu_time, wait_reason = NULL,
        run_at = NULL, version = j.version + 1
    FROM c, target WHERE j.id = c.id AND j.id = target.id
    RETURNING j.id, j.queue, j.priority, j.type, j.attempts, j.worker_id, j.queued_at,
              j.started_at, j.finished_at
    """
)

# -- job_fail_many -- RUNNING -> RETRYING (attempts left and retryable) or FAILED, fenced by
# -- the attempt. Backoff is exponential with equal jitter and a cap, on the database clock.
JOB_FAIL_MANY = text(
    """
    WITH c AS (
        SELECT * FROM unnest(CAST(:ids AS bigint[]), CAST(:attempts AS int[]),
                             CAST(:retryable AS boolean[]), CAST(:error_types AS text[]),
                             CAST(:error_messages AS text[]), CAST(:tracebacks AS text[]),
                             CAST(:fingerprints AS text[]), CAST(:peak_rss AS bigint[]),
                             CAST(:cpu_times AS real[]), CAST(:started AS timestamptz[]))
               AS c(id, attempt, retryable, error_type, error_message, traceback,
                    fingerprint, peak_rss, cpu_time, started)
    ), target AS (
        SELECT j.id, (c.retryable AND j.attempts - j.budget_base <= j.max_retries) AS again
        FROM jobs j JOIN c ON c.id = j.id
        WHERE j.state = 'running' AND j.attempts = c.attempt
        ORDER BY j.id FOR UPDATE OF j
    )
    UPDATE jobs j SET
        state = CASE WHEN target.again THEN 'retrying' ELSE 'failed' END,
        run_at = CASE WHEN target.again THEN now() + make_interval(secs =>
            least(j.backoff_max_s,
                  j.backoff_s * power(2.0, greatest(j.attempts - j.budget_base - 1, 0)))
            * (0.5 + random() * 0.5)) END,
        finished_at = CASE WHEN target.again THEN NULL ELSE now() END,
        started_at = coalesce(c.started, j.started_at),
        error_type = c.error_type, error_message = c.error_message,
        error_traceback = c.traceback, error_fingerprint = c.fingerprint,
        peak_rss_bytes = c.peak_rss, cpu_time_s = c.cpu_time, version = j.version + 1
    FROM c, target WHERE j.id = c.id AND j.id = target.id
    RETURNING j.id, j.queue, j.priority, j.type, j.state, j.attempts, j.worker_id, j.run_at,
              j.queued_at, j.started_at, j.finished_at, j.error_message
    """
)

# -- job_return_many -- RUNNING -> QUEUED (claimed, never started) or RETRYING now (handed
# -- back by a draining worker); the attempt does not count against max_retries.
JOB_RETURN_MANY = text(
    f"""
    WITH target AS (
        SELECT j.id FROM jobs j JOIN {_CLAIM_BATCH} ON c.id = j.id
        WHERE j.state = 'running' AND j.attempts = c.attempt
        ORDER BY j.id FOR UPDATE OF j
    )
    UPDATE jobs j SET state = :state, budget_base = j.budget_base + 1,
        queued_at = CASE WHEN :state = 'queued' THEN now() ELSE j.queued_at END,
        run_at = CASE WHEN :state = 'retrying' THEN now() END,
        started_at = NULL, worker_id = NULL, version = j.version + 1
    FROM target WHERE j.id = target.id
    RETURNING j.id, j.queue, j.priority, j.type, j.attempts, j.state
    """
)

# -- job_requeue_due -- RETRYING -> QUEUED for retries whose backoff has ended.
# -- SKIP LOCKED lets several engines share the work without waiting on each other.
JOB_REQUEUE_DUE = text(
    """
    WITH due AS (
        SELECT id FROM jobs WHERE state = 'retrying' AND run_at <= now()
        ORDER BY run_at LIMIT :limit FOR UPDATE SKIP LOCKED
    )
    UPDATE jobs j SET state = 'queued', queued_at = now(), run_at = NULL,
        version = j.version + 1
    FROM due WHERE j.id = due.id
    RETURNING j.id, j.queue, j.priority, j.type, j.attempts
    """
)

# -- job_next_retry_at -- when the retry scheduler next has something to do.
JOB_NEXT_RETRY_AT = text("SELECT min(run_at) FROM jobs WHERE state = 'retrying'")

# -- job_release_dependents -- after completions: one less dependency to wait for; those
# -- with none left go PENDING -> QUEUED.
JOB_RELEASE_DEPENDENTS = text(
    """
    WITH agg AS (
        SELECT job_id AS id, count(*)::int AS n FROM job_dependencies
        WHERE depends_on_id = ANY(CAST(:ids AS bigint[])) GROUP BY job_id
    ), locked AS (
        SELECT j.id, j.state AS old_state FROM jobs j JOIN agg ON agg.id = j.id
        ORDER BY j.id FOR UPDATE OF j
    )
    UPDATE jobs j SET deps_remaining = j.deps_remaining - agg.n,
        state = CASE WHEN j.state = 'pending' AND j.deps_remaining - agg.n <= 0
                     THEN 'queued' ELSE j.state END,
        queued_at = CASE WHEN j.state = 'pending' AND j.deps_remaining - agg.n <= 0
                         THEN now() ELSE j.queued_at END,
        wait_reason = CASE WHEN j.state = 'pending' AND j.deps_remaining - agg.n <= 0
                           THEN NULL ELSE j.wait_reason END,
        version = j.version + 1
    FROM agg, locked WHERE j.id = agg.id AND j.id = locked.id
    RETURNING j.id, j.queue, j.priority, j.type, j.attempts, j.state, locked.old_state
    """
)

# -- job_block_descendants -- after a failure or cancel: every PENDING job downstream can
# -- no longer run and becomes BLOCKED, with the reason naming the job that stopped it.
JOB_BLOCK_DESCENDANTS = text(
    """
    WITH RECURSIVE d(id) AS (
        SELECT job_id FROM job_dependencies WHERE depends_on_id = ANY(CAST(:ids AS bigint[]))
        UNION
        SELECT jd.job_id FROM job_dependencies jd JOIN d ON jd.depends_on_id = d.id
    ), locked AS (
        SELECT j.id FROM jobs j JOIN d ON d.id = j.id
        WHERE j.state = 'pending' ORDER BY j.id FOR UPDATE OF j
    )
    UPDATE jobs j SET state = 'blocked', wait_reason = :reason, version = j.version + 1
    FROM locked WHERE j.id = locked.id
    RETURNING j.id, j.queue, j.priority, j.type, j.attempts
    """
)

# -- job_descendants -- every job downstream of some jobs, with its state (previews).
JOB_DESCENDANTS = text(
    """
    WITH RECURSIVE d(id) AS (
        SELECT job_id FROM job_dependencies WHERE depends_on_id = ANY(CAST(:ids AS bigint[]))
        UNION
        SELECT jd.job_id FROM job_dependencies jd JOIN d ON jd.depends_on_id = d.id
    )
    SELECT j.id, j.state, j.type FROM jobs j JOIN d ON d.id = j.id ORDER BY j.id
    """
)

# -- job_unblock_many -- BLOCKED -> PENDING for jobs none of whose dependencies blocks them
# -- any more (a retried dependency).
JOB_UNBLOCK_MANY = text(
    """
    WITH locked AS (
        SELECT id FROM jobs WHERE id = ANY(CAST(:ids AS bigint[])) AND state = 'blocked'
        ORDER BY id FOR UPDATE
    )
    UPDATE jobs j SET state = 'pending', wait_reason = NULL, version = j.version + 1
    FROM locked WHERE j.id = locked.id
    RETURNING j.id, j.queue, j.priority, j.type, j.attempts, j.deps_remaining
    """
)

# -- job_queue_ready -- PENDING -> QUEUED for jobs with nothing left to wait for.
JOB_QUEUE_READY = text(
    """
    WITH locked AS (
        SELECT id FROM jobs WHERE id = ANY(CAST(:ids AS bigint[])) AND state = 'pending'
          AND deps_remaining <= 0
        ORDER BY id FOR UPDATE
    )
    UPDATE jobs j SET state = 'queued', queued_at = now(), version = j.version + 1
    FROM locked WHERE j.id = locked.id
    RETURNING j.id, j.queue, j.priority, j.type, j.attempts
    """
)
