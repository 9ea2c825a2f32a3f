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

# -- job_insert_many -- a whole submission's jobs in one statement, with their queues made
# -- known, their "submitted" events and their count deltas ($1 … $16: one array per
# -- column, see engine.store.submission). Driver SQL, run in the submitting transaction.
JOB_INSERT_MANY = """
    WITH u AS (
        SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::smallint[], $5::text[],
                             $6::jsonb[], $7::text[], $8::bigint[], $9::int[], $10::real[],
                             $11::real[], $12::real[], $13::int[], $14::real[], $15::int[],
                             $16::text[])
             AS u(id, type, queue, priority, state, payload, key, workflow_id, max_retries,
                  backoff_s, backoff_max_s, timeout_s, memory_mb, ttl_s, deps_remaining,
                  wait_reason)
    ), queues_known AS (
        INSERT INTO queues (name) SELECT DISTINCT queue FROM u ORDER BY queue
        ON CONFLICT (name) DO NOTHING
    ), inserted AS (
        INSERT INTO jobs (id, type, queue, priority, state, payload, idempotency_key,
                          workflow_id, max_retries, backoff_s, backoff_max_s, timeout_s,
                          memory_mb, ttl_s, deps_remaining, queued_at, wait_reason)
        SELECT u.id, u.type, u.queue, u.priority, u.state, u.payload, u.key, u.workflow_id,
               u.max_retries, u.backoff_s, u.backoff_max_s, u.timeout_s, u.memory_mb, u.ttl_s,
               u.deps_remaining, CASE WHEN u.state = 'queued' THEN now() END, u.wait_reason
        FROM u
    ), events AS (
        INSERT INTO job_events (job_id, from_state, to_state, attempt, worker_id, reason)
        SELECT id, NULL, state, 0, NULL,
               coalesce(wait_reason,
                        CASE WHEN deps_remaining > 0
                             THEN 'submitted; waiting for ' || deps_remaining || ' dependencies'
                             ELSE 'submitted' END)
        FROM u ORDER BY id
    )
    INSERT INTO queue_state_deltas (queue, state, delta)
    SELECT queue, state, count(*) FROM u GROUP BY queue, state ORDER BY queue, state
"""

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
    RETURNING id, queue, priority, state, attempts, type, worker_id, version
    """
)

_CLAIM_BATCH = "unnest(CAST(:ids AS bigint[]), CAST(:attempts AS int[])) AS c(id, attempt)"

# A batch's rows of ``jobs`` are found, and updated, by primary-key probes whatever the
# statistics say. Written as plain joins, the planner may instead read a partial index of
# the state it filters on and hash-join, or scan the table — and a plan made while
# ``jobs`` was small stays cached for a worker connection's life. A partial state index
# keeps an entry for every job that was ever in that state until VACUUM, so such claims
# grew with the table (measured: index fetches per update grew from 1 to over 150 within
# a 20-second benchmark). tests/engine/test_job_path_plans.py holds every statement here
# to this, planned generically on an empty table.


def locked_rows(batch: str) -> str:
    """FROM clause: the ``jobs`` rows (``j``) of the ids in CTE ``batch`` (``c``), each
    locked as it is found, in id order; filter on their state outside, where the check
    sees the row version the lock waited for (OFFSET 0 keeps the probe a probe)."""
    return f"""(SELECT * FROM {batch} ORDER BY id) AS c CROSS JOIN LATERAL (
            SELECT * FROM jobs WHERE jobs.id = c.id OFFSET 0 FOR UPDATE
        ) AS j"""


def among(rows: str) -> str:
    """WHERE term for an UPDATE of ``jobs j``: its id is one of CTE ``rows``' ids."""
    return f"j.id = ANY(ARRAY(SELECT id FROM {rows}))"


# The job path's writes are driver SQL with positional parameters ($1, $2, …): they run
# as they are on a raw asyncpg connection (one round trip, autocommit) and, through
# ``exec_driver_sql``, inside a SQLAlchemy transaction. Each is ONE statement that also
# writes its job_events rows and queue_state_deltas, so the state change, its audit
# trail and its counts commit together even without an explicit transaction.

# -- job_claim_many -- QUEUED -> RUNNING for the messages a worker received ($1 ids,
# -- $2 attempts, $3 worker id); the attempt in each message must still be current, so a
# -- stale or duplicate message claims nothing. Jobs of a paused queue stay QUEUED
# -- (resuming the queue publishes them again). Writes the events and count deltas.
JOB_CLAIM_MANY = f"""
    WITH c AS (
        SELECT * FROM unnest($1::bigint[], $2::int[]) AS c(id, attempt)
    ), target AS (
        SELECT j.id FROM {locked_rows("c")}
        WHERE j.state = 'queued' AND j.attempts = c.attempt
          AND NOT EXISTS (SELECT 1 FROM queues q WHERE q.name = j.queue AND q.paused)
    ), claimed AS (
        UPDATE jobs j SET state = 'running', attempts = j.attempts + 1, started_at = now(),
            finished_at = NULL, worker_id = $3::text, wait_reason = NULL,
            version = j.version + 1
        WHERE {among("target")}
        RETURNING j.id, j.type, j.queue, j.priority, j.payload, j.attempts, j.timeout_s,
                  j.memory_mb, j.queued_at, j.started_at, j.workflow_id, j.version
    ), events AS (
        INSERT INTO job_events (job_id, from_state, to_state, attempt, worker_id, reason)
        SELECT id, 'queued', 'running', attempts, $3::text, 'claimed' FROM claimed ORDER BY id
    ), deltas AS (
        INSERT INTO queue_state_deltas (queue, state, delta)
        SELECT d.queue, d.state, sum(d.delta) FROM claimed
        CROSS JOIN LATERAL (VALUES (claimed.queue, 'queued', -1), (claimed.queue, 'running', 1))
             AS d(queue, state, delta)
        GROUP BY d.queue, d.state ORDER BY d.queue, d.state
    )
    SELECT * FROM claimed
"""

# -- job_claimed_by -- of the messages ($1 ids, $2 attempts) of a claim that failed without
# -- saying whether it committed (the connection dropped), the runs worker $3 now holds:
# -- those it did claim.
JOB_CLAIMED_BY = """
    SELECT j.id, j.type, j.queue, j.priority, j.payload, j.attempts, j.timeout_s,
           j.memory_mb, j.queued_at, j.started_at, j.workflow_id, j.version
    FROM jobs j JOIN unnest($1::bigint[], $2::int[]) AS c(id, attempt) ON c.id = j.id
    WHERE j.state = 'running' AND j.worker_id = $3::text AND j.attempts = c.attempt + 1
    ORDER BY j.id
"""

# -- job_state_many -- current state and attempt of jobs ($1 ids), to explain a refused
# -- claim.
JOB_STATE_MANY = """
    SELECT j.id, j.queue, j.type, j.state, j.attempts, j.version,
           coalesce(q.paused, false) AS paused
    FROM jobs j LEFT JOIN queues q ON q.name = j.queue
    WHERE j.id = ANY($1::bigint[])
"""

# -- job_complete_many -- RUNNING -> COMPLETED, fenced by the attempt that ran ($1 ids,
# -- $2 attempts, $3 results, $4 peak RSS, $5 CPU times, $6 start times, $7 the recording
# -- worker). Dependents have one less dependency to wait for; those with none left go
# -- PENDING -> QUEUED. Writes the events and count deltas of both. Rows: kind 'completed'
# -- or 'released' (a dependent whose deps_remaining changed, with its old state).
# -- Completed rows are locked before dependents, each in id order, as everywhere.
JOB_COMPLETE_MANY = f"""
    WITH c AS (
        SELECT * FROM unnest($1::bigint[], $2::int[], $3::jsonb[], $4::bigint[], $5::real[],
                             $6::timestamptz[])
               AS c(id, attempt, result, peak_rss, cpu_time, started)
    ), target AS (
        SELECT j.id FROM {locked_rows("c")}
        WHERE j.state = 'running' AND j.attempts = c.attempt
    ), done AS (
        UPDATE jobs j SET state = 'completed', finished_at = now(), result = c.result,
            started_at = coalesce(c.started, j.started_at),
            peak_rss_bytes = c.peak_rss, cpu_time_s = c.cpu_time, wait_reason = NULL,
            run_at = NULL, version = j.version + 1
        FROM c WHERE j.id = c.id AND {among("target")}
        RETURNING j.id, j.queue, j.priority, j.type, j.attempts, j.worker_id, j.queued_at,
                  j.started_at, j.finished_at, j.version
    ), agg AS (
        SELECT jd.job_id AS id, count(*)::int AS n
        FROM job_dependencies jd JOIN done ON jd.depends_on_id = done.id
        WHERE jd.job_id NOT IN (SELECT id FROM c)
        GROUP BY jd.job_id
    ), locked AS (
        SELECT j.id, j.state AS old_state FROM {locked_rows("agg")}
    ), released AS (
        UPDATE jobs j SET deps_remaining = j.deps_remaining - agg.n,
            state = CASE WHEN j.state = 'pending' AND j.deps_remaining - agg.n <= 0
                         THEN 'queued' ELSE j.state END,
            queued_at = CASE WHEN j.state = 'pending' AND j.deps_remaining - agg.n <= 0
                             THEN now() ELSE j.queued_at END,
            wait_reason = CASE WHEN j.state = 'pending' AND j.deps_remaining - agg.n <= 0
                               THEN NULL ELSE j.wait_reason END,
            version = j.version + 1
        FROM agg, locked WHERE j.id = agg.id AND j.id = locked.id AND {among("locked")}
        RETURNING j.id, j.queue, j.priority, j.type, j.attempts, j.state, locked.old_state,
                  j.version
    ), queued AS (
        SELECT * FROM released WHERE old_state = 'pending' AND state = 'queued'
    ), events AS (
        INSERT INTO job_events (job_id, from_state, to_state, attempt, worker_id, reason)
        SELECT * FROM (
            SELECT id, 'running', 'completed', attempts, coalesce(worker_id, $7::text),
                   'completed'
            FROM done
            UNION ALL
            SELECT id, 'pending', 'queued', attempts, NULL, 'dependencies completed'
            FROM queued
        ) e(job_id, from_state, to_state, attempt, worker_id, reason)
        ORDER BY (from_state = 'pending'), job_id
    ), deltas AS (
        INSERT INTO queue_state_deltas (queue, state, delta)
        SELECT queue, state, sum(delta) FROM (
            SELECT queue, 'running', -1 FROM done
            UNION ALL SELECT queue, 'completed', 1 FROM done
            UNION ALL SELECT queue, 'pending', -1 FROM queued
            UNION ALL SELECT queue, 'queued', 1 FROM queued
        ) d(queue, state, delta)
        GROUP BY queue, state HAVING sum(delta) <> 0 ORDER BY queue, state
    )
    SELECT 'completed' AS kind, id, queue, priority, type, attempts, worker_id, queued_at,
           started_at, finished_at, version, 'completed' AS state,
           'running' AS old_state
    FROM done
    UNION ALL
    SELECT 'released', id, queue, priority, type, attempts, NULL, NULL, NULL, NULL, version,
           state, old_state
    FROM released
"""

# -- job_fail_many -- RUNNING -> RETRYING (attempts left and retryable) or FAILED, fenced by
# -- the attempt. Backoff is exponential with equal jitter and a cap, on the database clock.
JOB_FAIL_MANY = text(
    f"""
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
        FROM {locked_rows("c")}
        WHERE j.state = 'running' AND j.attempts = c.attempt
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
    FROM c, target WHERE j.id = c.id AND j.id = target.id AND {among("target")}
    RETURNING j.id, j.queue, j.priority, j.type, j.state, j.attempts, j.worker_id, j.run_at,
              j.queued_at, j.started_at, j.finished_at, j.error_message, j.version
    """
)

# -- job_return_many -- RUNNING -> QUEUED (claimed, never started) or RETRYING now (handed
# -- back by a draining worker); the attempt does not count against max_retries.
JOB_RETURN_MANY = text(
    f"""
    WITH c AS (SELECT * FROM {_CLAIM_BATCH}), target AS (
        SELECT j.id FROM {locked_rows("c")}
        WHERE j.state = 'running' AND j.attempts = c.attempt
    )
    UPDATE jobs j SET state = :state, budget_base = j.budget_base + 1,
        queued_at = CASE WHEN :state = 'queued' THEN now() ELSE j.queued_at END,
        run_at = CASE WHEN :state = 'retrying' THEN now() END,
        started_at = NULL, worker_id = NULL, version = j.version + 1
    WHERE {among("target")}
    RETURNING j.id, j.queue, j.priority, j.type, j.attempts, j.state, j.version
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
    RETURNING j.id, j.queue, j.priority, j.type, j.attempts, j.version
    """
)

# -- job_next_retry_at -- when the retry scheduler next has something to do.
JOB_NEXT_RETRY_AT = text("SELECT min(run_at) FROM jobs WHERE state = 'retrying'")

# -- job_block_descendants -- after a failure or cancel: every PENDING job downstream can
# -- no longer run and becomes BLOCKED, with the reason naming the job that stopped it.
JOB_BLOCK_DESCENDANTS = text(
    f"""
    WITH RECURSIVE d(id) AS (
        SELECT job_id FROM job_dependencies WHERE depends_on_id = ANY(CAST(:ids AS bigint[]))
        UNION
        SELECT jd.job_id FROM job_dependencies jd JOIN d ON jd.depends_on_id = d.id
    ), locked AS (
        SELECT j.id FROM {locked_rows("d")} WHERE j.state = 'pending'
    )
    UPDATE jobs j SET state = 'blocked', wait_reason = :reason, version = j.version + 1
    WHERE {among("locked")}
    RETURNING j.id, j.queue, j.priority, j.type, j.attempts, j.version
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
    RETURNING j.id, j.queue, j.priority, j.type, j.attempts, j.deps_remaining, j.version
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
    RETURNING j.id, j.queue, j.priority, j.type, j.attempts, j.version
    """
)

# -- job_failure_group_key -- the key FAILED jobs are grouped by, as a SQL expression on an
# -- unaliased ``jobs``: the fingerprint the worker computed (exception type + normalised
# -- message, engine.worker.fingerprint), else the exception type, else 'unknown'. The
# -- dashboard's groups, a group's retry and the partial index jobs_failed_group_idx
# -- (migration 0004, which must spell it exactly so) all use this one expression; its
# -- Python twin is engine.snapshots.failure_group_key.
JOB_FAILURE_GROUP_KEY = "coalesce(error_fingerprint, error_type, 'unknown')"

# -- job_failed_group_size -- how many FAILED jobs a failure group holds now, and the ids
# -- of its newest :sample (a retry's preview).
JOB_FAILED_GROUP_SIZE = text(
    f"""
    SELECT count(*) AS n, (array_agg(id ORDER BY id DESC))[1:CAST(:sample AS int)] AS newest
    FROM jobs WHERE state = 'failed' AND {JOB_FAILURE_GROUP_KEY} = :fingerprint
    """
)

# -- job_failed_group_page -- the next :limit FAILED jobs of a failure group with ids above
# -- :after, in id order (keyset: a group's retry visits each job once, however large the
# -- group, and a job that fails again meanwhile is not retried twice). Served by
# -- jobs_failed_group_idx: (key, id) of FAILED jobs only.
JOB_FAILED_GROUP_PAGE = text(
    f"""
    SELECT id FROM jobs
    WHERE state = 'failed' AND {JOB_FAILURE_GROUP_KEY} = :fingerprint AND id > :after
    ORDER BY id LIMIT :limit
    """
)

# -- job_failed_group_blocked_descendants -- the BLOCKED jobs downstream of a failure
# -- group's FAILED jobs (those a retry of the group may release), the first :sample by
# -- id with the total count on every row.
JOB_FAILED_GROUP_BLOCKED_DESCENDANTS = text(
    f"""
    WITH RECURSIVE g AS (
        SELECT id FROM jobs
        WHERE state = 'failed' AND {JOB_FAILURE_GROUP_KEY} = :fingerprint
    ), d(id) AS (
        SELECT jd.job_id FROM job_dependencies jd JOIN g ON jd.depends_on_id = g.id
        UNION
        SELECT jd.job_id FROM job_dependencies jd JOIN d ON jd.depends_on_id = d.id
    )
    SELECT j.id, j.type, j.state, count(*) OVER () AS total
    FROM jobs j JOIN d ON d.id = j.id
    WHERE j.state = 'blocked'
    ORDER BY j.id LIMIT :sample
    """
)
