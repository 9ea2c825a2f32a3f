"""Queries on ``jobs``.

Every multi-row writer locks its rows ``ORDER BY id FOR UPDATE`` before
updating, so two writers always lock in the same order and cannot deadlock.
Conditional guards (``state = …``, ``attempts = …``) are re-checked by
PostgreSQL after a lock wait, which is what makes a duplicate claim harmless.
"""

import functools

from engine.db.sql import Sql
from engine.specs import DEFAULT_TENANT

JOB_COLUMNS = """
    j.id, j.type, j.queue, j.priority, j.state, j.payload, j.idempotency_key, j.workflow_id,
    j.attempts, j.budget_base, j.max_retries, j.backoff_s, j.backoff_max_s, j.timeout_s,
    j.memory_mb, j.cpu, j.ttl_s, j.deps_remaining, j.run_at, j.created_at, j.queued_at,
    j.started_at, j.finished_at, j.worker_id, j.wait_reason, j.error_type, j.error_message,
    j.error_traceback, j.error_fingerprint, j.result, j.peak_rss_bytes, j.cpu_time_s,
    j.version, j.tenant
"""

# -- job_ids_allocate -- ids for a submission before its rows exist, so edges can name them.
JOB_IDS_ALLOCATE = Sql(
    "SELECT nextval(pg_get_serial_sequence('jobs', 'id')) FROM generate_series(1, :n)"
)

# -- job_insert_many -- a whole submission's jobs in one statement, with their queues made
# -- known, their "submitted" events and their count deltas (one array per column, see
# -- engine.store.submission), in the submitting transaction.
JOB_INSERT_MANY = Sql(
    """
    WITH u AS (
        SELECT * FROM unnest(CAST(:ids AS bigint[]), CAST(:types AS text[]),
                             CAST(:queues AS text[]), CAST(:priorities AS smallint[]),
                             CAST(:states AS text[]), CAST(:payloads AS jsonb[]),
                             CAST(:keys AS text[]), CAST(:workflow_ids AS bigint[]),
                             CAST(:max_retries AS int[]), CAST(:backoffs_s AS real[]),
                             CAST(:backoffs_max_s AS real[]), CAST(:timeouts_s AS real[]),
                             CAST(:memory_mb AS int[]), CAST(:ttls_s AS real[]),
                             CAST(:deps_remaining AS int[]), CAST(:wait_reasons AS text[]),
                             CAST(:refs AS text[]), CAST(:cpus AS real[]),
                             CAST(:tenants AS text[]))
             AS u(id, type, queue, priority, state, payload, key, workflow_id, max_retries,
                  backoff_s, backoff_max_s, timeout_s, memory_mb, ttl_s, deps_remaining,
                  wait_reason, ref, cpu, tenant)
    ), queues_known AS (
        INSERT INTO queues (name) SELECT DISTINCT queue FROM u ORDER BY queue
        ON CONFLICT (name) DO NOTHING
    ), ledger AS (
        INSERT INTO tenant_queues (queue, tenant, pass)
        SELECT p.queue, p.tenant,
               coalesce((SELECT min(tq.pass) FROM tenant_queues tq WHERE tq.queue = p.queue), 0)
        FROM (SELECT DISTINCT queue, tenant FROM u) AS p
        WHERE NOT EXISTS (
            SELECT 1 FROM tenant_queues tq WHERE tq.queue = p.queue AND tq.tenant = p.tenant
        )
        ORDER BY p.queue, p.tenant
        ON CONFLICT (queue, tenant) DO NOTHING
    ), inserted AS (
        INSERT INTO jobs (id, type, queue, priority, state, payload, idempotency_key,
                          workflow_id, max_retries, backoff_s, backoff_max_s, timeout_s,
                          memory_mb, ttl_s, deps_remaining, queued_at, wait_reason, ref, cpu,
                          tenant)
        SELECT u.id, u.type, u.queue, u.priority, u.state, u.payload, u.key, u.workflow_id,
               u.max_retries, u.backoff_s, u.backoff_max_s, u.timeout_s, u.memory_mb, u.ttl_s,
               u.deps_remaining, CASE WHEN u.state = 'queued' THEN now() END, u.wait_reason,
               u.ref, u.cpu, u.tenant
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
)

# -- job_submit_plain -- one-job submissions from concurrent callers (group commit, see
# -- engine.store.group_commit): jobs without dependencies or idempotency key, each made
# -- QUEUED with its queue made known, its "submitted" event and its count delta, in ONE
# -- statement that commits by itself. A job whose queue or tenant has a waiting limit, or
# -- whose tenant is unknown, is left out (no id, nothing written): its caller submits it in
# -- a transaction of its own, where the limit is checked under the queue's and tenant's
# -- locks (engine.queues.limits, engine.tenants.limits) and an unknown tenant is refused.
# -- Rows: (ord, id) for each job written, ord being its 1-based place in the arrays.
JOB_SUBMIT_PLAIN = Sql(
    """
    WITH u AS (
        SELECT * FROM unnest(CAST(:types AS text[]), CAST(:queues AS text[]),
                             CAST(:priorities AS smallint[]), CAST(:payloads AS jsonb[]),
                             CAST(:max_retries AS int[]), CAST(:backoffs_s AS real[]),
                             CAST(:backoffs_max_s AS real[]), CAST(:timeouts_s AS real[]),
                             CAST(:memory_mb AS int[]), CAST(:ttls_s AS real[]),
                             CAST(:cpus AS real[]), CAST(:tenants AS text[]))
             WITH ORDINALITY
             AS u(type, queue, priority, payload, max_retries, backoff_s, backoff_max_s,
                  timeout_s, memory_mb, ttl_s, cpu, tenant, ord)
    ), admitted AS MATERIALIZED (
        SELECT nextval(pg_get_serial_sequence('jobs', 'id')) AS id, u.* FROM u
        WHERE NOT EXISTS (
            SELECT 1 FROM queues q WHERE q.name = u.queue AND q.max_waiting IS NOT NULL
        ) AND CASE WHEN u.tenant = 'default' THEN EXISTS (
            SELECT 1 FROM tenants t WHERE t.name = u.tenant AND t.max_waiting IS NULL
        ) ELSE EXISTS (
            -- held until this statement commits, so a `tenant remove` waits and then
            -- counts these jobs (as tenant_known_many does for a submit's transaction)
            SELECT 1 FROM tenants t WHERE t.name = u.tenant AND t.max_waiting IS NULL
            FOR KEY SHARE
        ) END
        ORDER BY u.ord
    ), queues_known AS (
        INSERT INTO queues (name) SELECT DISTINCT queue FROM admitted ORDER BY queue
        ON CONFLICT (name) DO NOTHING
    ), ledger AS (
        INSERT INTO tenant_queues (queue, tenant, pass)
        SELECT p.queue, p.tenant,
               coalesce((SELECT min(tq.pass) FROM tenant_queues tq WHERE tq.queue = p.queue), 0)
        FROM (SELECT DISTINCT queue, tenant FROM admitted) AS p
        WHERE NOT EXISTS (
            SELECT 1 FROM tenant_queues tq WHERE tq.queue = p.queue AND tq.tenant = p.tenant
        )
        ORDER BY p.queue, p.tenant
        ON CONFLICT (queue, tenant) DO NOTHING
    ), inserted AS (
        INSERT INTO jobs (id, type, queue, priority, state, payload, max_retries, backoff_s,
                          backoff_max_s, timeout_s, memory_mb, ttl_s, deps_remaining,
                          queued_at, cpu, tenant)
        SELECT id, type, queue, priority, 'queued', payload, max_retries, backoff_s,
               backoff_max_s, timeout_s, memory_mb, ttl_s, 0, now(), cpu, tenant
        FROM admitted
    ), events AS (
        INSERT INTO job_events (job_id, from_state, to_state, attempt, worker_id, reason)
        SELECT id, NULL, 'queued', 0, NULL, 'submitted' FROM admitted ORDER BY id
    ), deltas AS (
        INSERT INTO queue_state_deltas (queue, state, delta)
        SELECT queue, 'queued', count(*) FROM admitted GROUP BY queue ORDER BY queue
    )
    SELECT ord, id FROM admitted
    """
)

# -- job_share_many -- existing dependencies of a submission, locked so they cannot finish
# -- (and miss our new edges) until we commit.
JOB_SHARE_MANY = Sql(
    """
    SELECT id, state, workflow_id, tenant FROM jobs
    WHERE id = ANY(CAST(:ids AS bigint[])) ORDER BY id FOR SHARE
    """
)

# -- job_idempotency_lock -- serializes submissions that share an idempotency key.
JOB_IDEMPOTENCY_LOCK = Sql(
    """
    SELECT pg_advisory_xact_lock(:lock_class, hashtext(k))
    FROM unnest(CAST(:keys AS text[])) AS k ORDER BY k
    """
)

# -- job_live_by_keys -- the live job holding each idempotency key, if any.
JOB_LIVE_BY_KEYS = Sql(
    """
    SELECT id, idempotency_key, state, workflow_id, tenant FROM jobs
    WHERE idempotency_key = ANY(CAST(:keys AS text[]))
      AND state NOT IN ('completed', 'failed', 'cancelled')
    ORDER BY id FOR SHARE
    """
)

# -- job_lock -- one job, locked for a single-job transition (cancel, retry).
JOB_LOCK = Sql(f"SELECT {JOB_COLUMNS} FROM jobs j WHERE j.id = :id FOR UPDATE")

# -- job_get -- one job, unlocked.
JOB_GET = Sql(f"SELECT {JOB_COLUMNS} FROM jobs j WHERE j.id = :id")

# -- job_set_state -- a single-job transition after JOB_LOCK checked it is legal.
JOB_SET_STATE = Sql(
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

# -- job_cancel_many -- a bulk cancel's batch: its live jobs -> CANCELLED, locked in id
# -- order; a job that ended meanwhile is left out (the caller counts it as skipped).
JOB_CANCEL_MANY = Sql(
    """
    WITH locked AS (
        SELECT id, state AS from_state, worker_id AS from_worker FROM jobs
        WHERE id = ANY(CAST(:ids AS bigint[]))
          AND state NOT IN ('completed', 'failed', 'cancelled')
        ORDER BY id FOR UPDATE
    )
    UPDATE jobs j SET state = 'cancelled', finished_at = now(), run_at = NULL,
        wait_reason = :wait_reason, version = j.version + 1
    FROM locked WHERE j.id = locked.id
    RETURNING j.id, j.queue, j.type, j.attempts, j.version, locked.from_state,
        locked.from_worker
    """
)

# -- job_lock_many -- a bulk batch's rows, locked in id order before it acts on them.
JOB_LOCK_MANY = Sql(
    "SELECT id FROM jobs WHERE id = ANY(CAST(:ids AS bigint[])) ORDER BY id FOR UPDATE"
)

# -- job_retry_many -- a bulk retry's plain cases, locked by the caller: FAILED and
# -- RETRYING jobs, and CANCELLED ones that depend on nothing, none holding an
# -- idempotency key -> QUEUED (a fresh attempt budget unless RETRYING). The rest go
# -- through the single-job retry, which weighs their dependencies and keys.
JOB_RETRY_MANY = Sql(
    """
    UPDATE jobs j SET state = 'queued', queued_at = now(), finished_at = NULL, run_at = NULL,
        budget_base = CASE WHEN j.state = 'retrying' THEN j.budget_base ELSE j.attempts END,
        wait_reason = NULL, version = j.version + 1
    FROM (
        SELECT id, state AS from_state FROM jobs
        WHERE id = ANY(CAST(:ids AS bigint[])) AND idempotency_key IS NULL
          AND (state IN ('failed', 'retrying')
               OR (state = 'cancelled' AND deps_remaining <= 0
                   AND NOT EXISTS (SELECT 1 FROM job_dependencies d WHERE d.job_id = jobs.id)))
    ) f
    WHERE j.id = f.id
    RETURNING j.id, j.queue, j.priority, j.type, j.attempts, j.version, f.from_state
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


def locked_rows(batch: str, unlocked_unless: str = "") -> str:
    """FROM clause: the ``jobs`` rows (``j``) of the ids in CTE ``batch`` (``c``), each
    locked as it is found, in id order; filter on their state outside, where the check
    sees the row version the lock waited for (OFFSET 0 keeps the probe a probe).
    ``unlocked_unless`` (``AND …`` on ``jobs``) leaves rows out before they are locked:
    for conditions on columns no writer changes."""
    return f"""(SELECT * FROM {batch} ORDER BY id) AS c CROSS JOIN LATERAL (
            SELECT * FROM jobs WHERE jobs.id = c.id {unlocked_unless} OFFSET 0 FOR UPDATE
        ) AS j"""


def among(rows: str) -> str:
    """WHERE term for an UPDATE of ``jobs j``: its id is one of CTE ``rows``' ids."""
    return f"j.id = ANY(ARRAY(SELECT id FROM {rows}))"


# The job path's hottest writes (claims, completions) run on a pooled asyncpg connection
# outside any transaction (``run_single``: one round trip, the statement compiled to
# asyncpg's $n form once per process) and, unchanged, inside a SQLAlchemy transaction.
# Each is ONE statement that also writes its job_events rows and queue_state_deltas, so
# the state change, its audit trail and its counts commit together even without an
# explicit transaction.


# -- job_claim_many -- QUEUED -> RUNNING for the messages a worker received (ids, attempts,
# -- the worker's id); the attempt in each message must still be current, so a stale or
# -- duplicate message claims nothing. Jobs of a paused queue stay QUEUED (resuming the
# -- queue publishes them again). Writes the events and count deltas.
def _claim_many(tenant_rules: str, clock: str = "now()") -> Sql:
    """The claim statement, with the extra conditions ``tenant_rules`` on the locked rows;
    ``clock`` is the SQL of the start time it records."""
    return Sql(
        f"""
    WITH c AS (
        SELECT * FROM unnest(CAST(:ids AS bigint[]), CAST(:attempts AS int[])) AS c(id, attempt)
    ), target AS (
        SELECT j.id FROM {locked_rows("c", tenant_rules)}
        WHERE j.state = 'queued' AND j.attempts = c.attempt
          AND NOT EXISTS (SELECT 1 FROM queues q WHERE q.name = j.queue AND q.paused)
    ), claimed AS (
        UPDATE jobs j SET state = 'running', attempts = j.attempts + 1, started_at = {clock},
            finished_at = NULL, worker_id = CAST(:worker_id AS text), wait_reason = NULL,
            version = j.version + 1
        WHERE {among("target")}
        RETURNING j.id, j.type, j.queue, j.priority, j.payload, j.attempts, j.timeout_s,
                  j.memory_mb, j.cpu, j.queued_at, j.started_at, j.workflow_id, j.version, j.tenant
    ), events AS (
        INSERT INTO job_events (job_id, from_state, to_state, attempt, worker_id, reason, at)
        SELECT id, 'queued', 'running', attempts, CAST(:worker_id AS text), 'claimed', started_at
        FROM claimed ORDER BY id
    ), deltas AS (
        INSERT INTO queue_state_deltas (queue, state, delta)
        SELECT d.queue, d.state, sum(d.delta) FROM claimed
        CROSS JOIN LATERAL (VALUES (claimed.queue, 'queued', -1), (claimed.queue, 'running', 1))
             AS d(queue, state, delta)
        GROUP BY d.queue, d.state ORDER BY d.queue, d.state
    )
    SELECT * FROM claimed
    """
    )


# Jobs whose claim the fair-share path decides (engine.store.fair_claim): those of a queue
# that several tenants share, and those of a tenant with a running limit. The plain claim
# leaves them QUEUED, and unlocked (queue and tenant never change), so the fair-share
# path of another worker never finds them locked and takes their tenant for idle; one
# indexed probe each keeps a single-tenant installation's claim as it was.
_TENANT_MANAGED = """AND NOT EXISTS (
                SELECT 1 FROM tenant_queues tq
                WHERE tq.queue = jobs.queue AND tq.tenant <> jobs.tenant
            )
            AND NOT EXISTS (
                SELECT 1 FROM tenants t WHERE t.name = jobs.tenant AND t.max_running IS NOT NULL
            )"""

JOB_CLAIM_MANY = _claim_many(_TENANT_MANAGED)

# -- job_claim_chosen -- the claim of the jobs the fair-share path chose (ids, attempts, the
# -- worker's id), in its transaction under the queue's and tenants' locks: as job_claim_many
# -- without leaving tenant-managed jobs out. The start it records is this statement's start,
# -- not the transaction's: that came before the locks, and a run that ended while this claim
# -- waited for them would seem to overlap the one it made room for. One time for the whole
# -- batch, as it is one claim: a per-row clock would order the batch by id (the order rows
# -- are updated in) rather than by the turns that chose them.
JOB_CLAIM_CHOSEN = _claim_many("", clock="statement_timestamp()")

# -- job_claimed_by -- after a claim that failed without saying whether it committed (the
# -- connection dropped), every run the database says the worker holds: on a queue shared by
# -- tenants a claim may have started other jobs than its messages named, so the worker
# -- compares this with the runs it knows of rather than with the messages.
JOB_CLAIMED_BY = Sql(
    """
    SELECT j.id, j.type, j.queue, j.priority, j.payload, j.attempts, j.timeout_s,
           j.memory_mb, j.cpu, j.queued_at, j.started_at, j.workflow_id, j.version
    FROM jobs j
    WHERE j.state = 'running' AND j.worker_id = CAST(:worker_id AS text)
    ORDER BY j.id
    """
)

# -- job_state_many -- current state and attempt of jobs, to explain a refused claim.
JOB_STATE_MANY = Sql(
    """
    SELECT j.id, j.queue, j.type, j.state, j.attempts, j.version,
           coalesce(q.paused, false) AS paused
    FROM jobs j LEFT JOIN queues q ON q.name = j.queue
    WHERE j.id = ANY(CAST(:ids AS bigint[]))
    """
)

# -- job_complete_many -- RUNNING -> COMPLETED, fenced by the attempt that ran (ids, attempts,
# -- results, peak RSS, CPU times, start times, the recording worker). Dependents have one
# -- less dependency to wait for; those with none left go PENDING -> QUEUED. Writes the
# -- events and count deltas of both. Rows: kind 'completed' or 'released' (a dependent
# -- whose deps_remaining changed, with its old state). Completed rows are locked before
# -- dependents, each in id order, as everywhere.
JOB_COMPLETE_MANY = Sql(
    f"""
    WITH c AS (
        SELECT * FROM unnest(CAST(:ids AS bigint[]), CAST(:attempts AS int[]),
                             CAST(:results AS jsonb[]), CAST(:peak_rss AS bigint[]),
                             CAST(:cpu_times AS real[]), CAST(:started AS timestamptz[]))
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
            SELECT id, 'running', 'completed', attempts,
                   coalesce(worker_id, CAST(:worker_id AS text)), 'completed'
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
)

# -- job_fail_many -- RUNNING -> RETRYING (attempts left and retryable) or FAILED, fenced by
# -- the attempt. Backoff is exponential with equal jitter and a cap, on the database clock.
JOB_FAIL_MANY = Sql(
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
JOB_RETURN_MANY = Sql(
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
JOB_REQUEUE_DUE = Sql(
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
JOB_NEXT_RETRY_AT = Sql("SELECT min(run_at) FROM jobs WHERE state = 'retrying'")

# -- job_block_descendants -- after a failure or cancel: every PENDING job downstream can
# -- no longer run and becomes BLOCKED, with the reason naming the job that stopped it.
JOB_BLOCK_DESCENDANTS = Sql(
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
JOB_DESCENDANTS = Sql(
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
JOB_UNBLOCK_MANY = Sql(
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
JOB_QUEUE_READY = Sql(
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

# -- job_defer_many -- RUNNING -> RETRYING later without spending an attempt: the job could
# -- not start here (no handler, not enough memory); the reason stays visible.
JOB_DEFER_MANY = Sql(
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

# -- job_not_mine -- of the runs a worker holds, those it no longer owns (cancelled,
# -- rescued and handed elsewhere): the worker stops them.
JOB_NOT_MINE = Sql(
    """
    SELECT c.id, c.attempt FROM unnest(CAST(:ids AS bigint[]), CAST(:attempts AS int[]))
        AS c(id, attempt)
    LEFT JOIN LATERAL (SELECT state, attempts FROM jobs WHERE jobs.id = c.id OFFSET 0) j
        ON true
    WHERE j.state IS DISTINCT FROM 'running' OR j.attempts <> c.attempt
    """
)

# -- job_orphaned -- RUNNING jobs whose worker is gone (stopped, lost, never registered),
# -- or that ran past their timeout plus a grace (their worker could not stop them).
JOB_ORPHANED = Sql(
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

# -- job_queued_per_queue -- how many jobs wait in each unpaused queue (reconciler).
JOB_QUEUED_PER_QUEUE = Sql(
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

# -- job_queued_stale -- the oldest unclaimed jobs of a queue, to publish again.
JOB_QUEUED_STALE = Sql(
    """
    SELECT id, attempts, queue, priority FROM jobs
    WHERE state = 'queued' AND queue = :queue
      AND queued_at < now() - make_interval(secs => :after_s)
      AND id <> ALL(CAST(:recent AS bigint[]))
    ORDER BY priority DESC, queued_at
    LIMIT :limit
    """
)

# -- job_queued_of_queue -- a batch of a queue's QUEUED jobs by id, to publish on resume.
JOB_QUEUED_OF_QUEUE = Sql(
    """
    SELECT id, attempts, queue, priority FROM jobs
    WHERE state = 'queued' AND queue = :queue AND id > :after
    ORDER BY id LIMIT :limit
    """
)

# -- job_expire_due -- QUEUED -> CANCELLED for jobs whose TTL (counted from queued_at) ran
# -- out on the database clock. SKIP LOCKED: several engines share the work, and a job a
# -- worker is claiming right now is left to the claim.
JOB_EXPIRE_DUE = Sql(
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
JOB_NEXT_EXPIRY_IN = Sql(
    """
    SELECT extract(epoch FROM min(job_queued_expiry(queued_at, ttl_s)) - now())::float8
    FROM jobs WHERE state = 'queued' AND ttl_s IS NOT NULL
    """
)

# -- db_now -- the database clock, which owns every run_at, TTL and schedule tick. It reads
# -- no table; it lives here, with the job times it is compared with.
DB_NOW = Sql("SELECT now()")

# ---------------------------------------------------------------------------
# Retention: finished jobs removed with their edges, events and logs
# ---------------------------------------------------------------------------

FINISHED = "('completed', 'failed', 'cancelled')"
LIVE = "('pending', 'queued', 'running', 'retrying', 'blocked')"

# -- job_prune_cutoff -- finished before this (database clock) is old enough to remove.
JOB_PRUNE_CUTOFF = Sql("SELECT now() - make_interval(secs => :age_s)")


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


# -- job_prune_candidates -- the next batch of finished jobs older than the cutoff, oldest
# -- first, keyset-paginated on (finished_at, id) so kept jobs are not read again.
JOB_PRUNE_CANDIDATES = Sql(
    f"""
    SELECT id, finished_at FROM jobs
    WHERE state IN {FINISHED} AND finished_at < :cutoff
      AND (finished_at, id) > (CAST(:after_at AS timestamptz), CAST(:after_id AS bigint))
    ORDER BY finished_at, id LIMIT :limit
    """
)

# -- job_prune_victims -- of some candidates, those that may go, locked; SKIP LOCKED leaves
# -- a job an operator is retrying right now to the next run.
JOB_PRUNE_VICTIMS = Sql(
    f"""
    SELECT j.id, j.queue, j.state, j.workflow_id FROM jobs j
    WHERE j.id = ANY(CAST(:ids AS bigint[])) AND {_prunable("j")}
    ORDER BY j.id FOR UPDATE OF j SKIP LOCKED
    """
)

# -- job_prune_preview -- of some candidates, those that may go (dry run, no locks).
JOB_PRUNE_PREVIEW = Sql(
    f"""
    SELECT j.id, j.queue, j.state, j.workflow_id FROM jobs j
    WHERE j.id = ANY(CAST(:ids AS bigint[])) AND {_prunable("j")}
    """
)

# -- job_prune_many -- remove locked victims with their edges, events and logs, and take
# -- them off the per-(queue, state) counts, in one statement.
JOB_PRUNE_MANY = Sql(
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

# -- job_prune_preview_children -- what JOB_PRUNE_MANY would remove with some victims. An
# -- edge between two removable jobs is counted once, with its dependent, as the real run
# -- removes it once.
JOB_PRUNE_PREVIEW_CHILDREN = Sql(
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

# -- job_prune_kept -- finished jobs older than the cutoff that were kept (live workflow or
# -- live dependent, or locked by an operator at that moment).
JOB_PRUNE_KEPT = Sql(
    f"SELECT count(*) FROM jobs WHERE state IN {FINISHED} AND finished_at < :cutoff"
)

# ---------------------------------------------------------------------------
# Reads: the read API, the dashboard, the DAG view
# ---------------------------------------------------------------------------

# -- job_state_version_many -- current state and version of some jobs (status cache
# -- fallback when a job's cached status is missing or untrusted).
JOB_STATE_VERSION_MANY = Sql(
    """
    SELECT id, state, version, queue, type, attempts, worker_id FROM jobs
    WHERE id = ANY(CAST(:ids AS bigint[]))
    """
)

# -- job_latency_recent -- wait (queued to started) and run (started to finished) time
# -- percentiles, per type and overall, of the jobs that most recently finished a run.
# -- Bounded like every dashboard read: the newest :scan events by primary key (see
# -- EVENT_THROUGHPUT_RECENT), then at most :sample jobs.
JOB_LATENCY_RECENT = Sql(
    """
    WITH newest AS (
        SELECT job_id, from_state, to_state, at FROM job_events ORDER BY id DESC LIMIT :scan
    ), recent AS (
        SELECT job_id, at FROM newest
        WHERE from_state = 'running' AND to_state IN ('completed', 'failed')
          AND at >= now() - make_interval(secs => :window_s)
        LIMIT :sample
    )
    SELECT j.type, GROUPING(j.type) AS overall, count(*) AS finished,
           percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP (
               ORDER BY extract(epoch FROM j.started_at - j.queued_at)) AS wait_s,
           percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP (
               ORDER BY extract(epoch FROM j.finished_at - j.started_at)) AS run_s
    FROM (SELECT DISTINCT job_id FROM recent) r JOIN jobs j ON j.id = r.job_id
    WHERE j.finished_at IS NOT NULL
    GROUP BY GROUPING SETS ((j.type), ())
    """
)

# -- job_failure_group_key -- the key FAILED jobs are grouped by, as a SQL expression on an
# -- unaliased ``jobs``: the fingerprint the worker computed (exception type + normalised
# -- message, engine.worker.fingerprint), else the exception type, else 'unknown'. The
# -- dashboard's groups, a group's retry and the partial index jobs_failed_group_idx
# -- (migration 0004, which must spell it exactly so) all use this one expression; its
# -- Python twin is engine.snapshots.failure_group_key.
JOB_FAILURE_GROUP_KEY = "coalesce(error_fingerprint, error_type, 'unknown')"

# -- job_failure_groups -- the newest :scan FAILED jobs grouped by JOB_FAILURE_GROUP_KEY (the
# -- error type when a job has none), largest groups first, with a sample of each.
JOB_FAILURE_GROUPS = Sql(
    f"""
    WITH recent AS (
        SELECT id, {JOB_FAILURE_GROUP_KEY} AS fingerprint,
               finished_at, tenant
        FROM jobs WHERE state = 'failed'
        ORDER BY id DESC
        LIMIT :scan
    ), groups AS (
        SELECT fingerprint, count(*) AS n, min(finished_at) AS first_seen,
               max(finished_at) AS last_seen, max(id) AS newest,
               (array_agg(id ORDER BY id DESC))[1:CAST(:sample AS int)] AS job_ids,
               array_agg(DISTINCT tenant ORDER BY tenant) AS tenants,
               sum(count(*)) OVER () AS scanned
        FROM recent GROUP BY fingerprint
        ORDER BY n DESC, newest DESC
        LIMIT :groups
    )
    SELECT g.fingerprint, g.n, g.first_seen, g.last_seen, g.job_ids, g.scanned, g.tenants,
           j.error_type, j.error_message
    FROM groups g JOIN jobs j ON j.id = g.newest
    ORDER BY g.n DESC, g.newest DESC
    """
)

# -- job_workflow_of -- a job and the workflow it belongs to (the DAG view's root).
JOB_WORKFLOW_OF = Sql("SELECT id, workflow_id FROM jobs WHERE id = :id")

# -- job_ids_of_workflow -- the first :limit job ids of a workflow (jobs_workflow_idx).
JOB_IDS_OF_WORKFLOW = Sql(
    "SELECT id FROM jobs WHERE workflow_id = :workflow_id ORDER BY id LIMIT :limit"
)

# -- job_graph_nodes -- what the DAG view draws of each job.
JOB_GRAPH_NODES = Sql(
    """
    SELECT id, type, queue, state, attempts, started_at, finished_at, wait_reason, workflow_id,
           ref
    FROM jobs WHERE id = ANY(CAST(:ids AS bigint[])) ORDER BY id
    """
)

_SUMMARY_COLUMNS = """
    j.id, j.type, j.queue, j.priority, j.state, j.attempts, j.created_at, j.started_at,
    j.finished_at, j.worker_id, j.workflow_id, j.error_message, j.wait_reason, j.error_type,
    j.error_fingerprint, j.tenant
"""

# The jobs list's filter terms, in the order they are joined; each binds the parameter(s)
# named in it. Each combination of terms is one statement shape, made once.
_JOB_PAGE_TERMS = {
    "before": "j.id < :before",
    "state": "j.state = :state",
    "queue": "j.queue = :queue",
    "type": "j.type = :type",
    "workflow_id": "j.workflow_id = :workflow_id",
    "tenant": "j.tenant = :tenant",
    # A tenant other than 'default': the extra term lets the planner use the partial
    # index jobs_tenant_id_idx (it holds only such tenants' jobs), also in a generic plan.
    "named_tenant": "j.tenant = :tenant AND j.tenant <> 'default'",
    "ids": "j.id = ANY(CAST(:ids AS bigint[]))",
    "states": "j.state = ANY(CAST(:states AS text[]))",
    "text": (
        "(j.type ILIKE :pattern OR j.error_message ILIKE :pattern "
        "OR j.idempotency_key ILIKE :pattern OR j.wait_reason ILIKE :pattern "
        "OR CAST(j.id AS text) = :text)"
    ),
}


# Sortable columns: the SQL each stands for and the type its keyset value is bound as.
# Only these names ever reach the statement text; the value is always a parameter.
_SORT_SQL = {
    "id": ("j.id", "bigint"),
    "state": ("j.state", "text"),
    "type": ("j.type", "text"),
    "queue": ("j.queue", "text"),
    "priority": ("j.priority", "smallint"),
    "attempts": ("j.attempts", "int"),
}


@functools.cache
def _job_page_statement(
    terms: tuple[str, ...], sort: str = "id", descending: bool = True, after: bool = False
) -> Sql:
    column, cast = _SORT_SQL[sort]
    direction, op = ("DESC", "<") if descending else ("ASC", ">")
    conditions = [_JOB_PAGE_TERMS[t] for t in terms]
    if after:  # keyset: rows past the last one shown, in this order
        if sort == "id":
            conditions.append(f"j.id {op} :after_id")
        else:
            conditions.append(f"({column}, j.id) {op} (CAST(:after_value AS {cast}), :after_id)")
    where = ("WHERE " + " AND ".join(conditions)) if conditions else ""
    order = f"j.id {direction}" if sort == "id" else f"{column} {direction}, j.id {direction}"
    return Sql(f"SELECT {_SUMMARY_COLUMNS} FROM jobs j {where} ORDER BY {order} LIMIT :limit")


@functools.cache
def _job_count_statement(terms: tuple[str, ...]) -> Sql:
    where = ("WHERE " + " AND ".join(_JOB_PAGE_TERMS[t] for t in terms)) if terms else ""
    return Sql(f"SELECT count(*) FROM jobs j {where}")


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# -- job_page_query -- jobs matching a filter, newest first, keyset-paginated on the primary key
# -- (ids below :before), so a page costs the same however deep it is. Every value is a
# -- bound parameter, never SQL text.
def job_page_query(
    *,
    limit: int,
    before: int | None = None,
    state: str | None = None,
    queue: str | None = None,
    job_type: str | None = None,
    workflow_id: int | None = None,
    tenant: str | None = None,
    search: str | None = None,
    sort: str = "id",
    descending: bool = True,
    after: tuple[str | int, int] | None = None,
    ids: list[int] | None = None,
    states: list[str] | None = None,
    count: bool = False,
) -> tuple[Sql, dict[str, object]]:
    """The statement for one page of the jobs list and its parameters; an empty
    ``search`` filters nothing. ``sort`` is a column name of ``_SORT_SQL`` and ``after``
    the ``(value, id)`` of the last row of the previous page in that order. ``ids`` and
    ``states`` narrow further (a bulk action's marked jobs, the states it applies to);
    ``count`` makes it count the matching jobs instead of reading a page."""
    params: dict[str, object] = {"limit": limit}
    terms: list[str] = []
    for name, value in (
        ("before", before),
        ("state", state),
        ("queue", queue),
        ("type", job_type),
        ("workflow_id", workflow_id),
        ("tenant", tenant),
        ("ids", ids),
        ("states", states),
    ):
        if value is not None:
            terms.append("named_tenant" if name == "tenant" and value != DEFAULT_TENANT else name)
            params[name] = value
    if search:
        terms.append("text")
        params["pattern"] = f"%{_escape_like(search)}%"
        params["text"] = search.strip()
    if count:
        del params["limit"]
        return _job_count_statement(tuple(terms)), params
    if after is not None:
        params["after_id"] = after[1]
        if sort != "id":
            params["after_value"] = after[0]
    return _job_page_statement(tuple(terms), sort, descending, after is not None), params


# -- job_failed_group_size -- how many FAILED jobs a failure group holds now, and the ids
# -- of its newest :sample (a retry's preview).
JOB_FAILED_GROUP_SIZE = Sql(
    f"""
    SELECT count(*) AS n, (array_agg(id ORDER BY id DESC))[1:CAST(:sample AS int)] AS newest
    FROM jobs WHERE state = 'failed' AND {JOB_FAILURE_GROUP_KEY} = :fingerprint
    """
)

# -- job_failed_group_page -- the next :limit FAILED jobs of a failure group with ids above
# -- :after, in id order (keyset: a group's retry visits each job once, however large the
# -- group, and a job that fails again meanwhile is not retried twice). Served by
# -- jobs_failed_group_idx: (key, id) of FAILED jobs only.
JOB_FAILED_GROUP_PAGE = Sql(
    f"""
    SELECT id FROM jobs
    WHERE state = 'failed' AND {JOB_FAILURE_GROUP_KEY} = :fingerprint AND id > :after
    ORDER BY id LIMIT :limit
    """
)

# -- job_failed_group_blocked_descendants -- the BLOCKED jobs downstream of a failure
# -- group's FAILED jobs (those a retry of the group may release), the first :sample by
# -- id with the total count on every row.
JOB_FAILED_GROUP_BLOCKED_DESCENDANTS = Sql(
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

# -- job_wake_fitting -- RETRYING jobs deferred because they fit no worker ("needs …")
# -- whose requests fit a worker that just registered on their queue: due now, so the
# -- retry scheduler requeues them instead of after their delay. Not a transition (no
# -- event): only the moment of the next offer moves.
JOB_WAKE_FITTING = Sql(
    """
    UPDATE jobs SET run_at = now()
    WHERE state = 'retrying' AND run_at > now() AND wait_reason LIKE 'needs %'
      AND queue = ANY(CAST(:queues AS text[]))
      AND coalesce(cpu, 0) <= :cpus + 1e-6
      AND (CAST(:memory_mb AS int) IS NULL OR coalesce(memory_mb, 0) <= :memory_mb)
    RETURNING id
    """
)

# -- job_mark_started -- a run that waited on its worker for room starts now: its
# -- started_at moves from the claim to now, so the rescuer's timeout clock (started_at +
# -- timeout_s) counts from the real start. Fenced by the attempt.
JOB_MARK_STARTED = Sql(
    """
    UPDATE jobs SET started_at = now()
    WHERE id = :id AND state = 'running' AND attempts = :attempt
    """
)

# -- job_tenant_rows -- the jobs of messages the plain claim left, with what decides them:
# -- the queue paused, the queue shared by several tenants, the tenant's running limit.
JOB_TENANT_ROWS = Sql(
    """
    SELECT j.id, j.queue, j.tenant, j.state, j.attempts,
           coalesce(q.paused, false) AS paused,
           EXISTS (SELECT 1 FROM tenant_queues tq
                   WHERE tq.queue = j.queue AND tq.tenant <> j.tenant) AS shared,
           t.max_running, coalesce(t.weight, 1) AS weight
    FROM jobs j LEFT JOIN queues q ON q.name = j.queue LEFT JOIN tenants t ON t.name = j.tenant
    WHERE j.id = ANY(CAST(:ids AS bigint[]))
    ORDER BY j.id
    """
)

# -- job_queued_next_of_tenant -- a tenant's next job on a queue (priority, then age), locked
# -- for the claim that chose the tenant; jobs other claims hold are skipped, not waited for.
JOB_QUEUED_NEXT_OF_TENANT = Sql(
    """
    SELECT id, attempts FROM jobs
    WHERE tenant = :tenant AND queue = :queue AND state = 'queued'
      AND id <> ALL(CAST(:taken AS bigint[]))
    ORDER BY priority DESC, id
    LIMIT 1 FOR UPDATE SKIP LOCKED
    """
)

# -- job_wait_reason_many -- why QUEUED jobs a claim left wait (a tenant's running limit).
JOB_WAIT_REASON_MANY = Sql(
    """
    UPDATE jobs j SET wait_reason = u.reason
    FROM unnest(CAST(:ids AS bigint[]), CAST(:reasons AS text[])) AS u(id, reason)
    WHERE j.id = u.id AND j.state = 'queued' AND j.wait_reason IS DISTINCT FROM u.reason
    """
)

# -- job_tenant_limit_waiting -- QUEUED jobs of a tenant a claim left at its running limit,
# -- best first, to publish again once runs of the tenant ended.
JOB_TENANT_LIMIT_WAITING = Sql(
    """
    SELECT id, attempts, queue, priority FROM jobs
    WHERE tenant = :tenant AND state = 'queued' AND wait_reason LIKE 'tenant % running limit %'
      AND id <> ALL(CAST(:recent AS bigint[]))
    ORDER BY priority DESC, id
    LIMIT :limit
    """
)

# -- job_tenant_of -- one job's tenant (a tenant-bound API token's check).
JOB_TENANT_OF = Sql("SELECT tenant FROM jobs WHERE id = :id")

# -- job_tenant_of_workflow -- the tenant of a workflow's jobs (one: workflows are single-tenant).
JOB_TENANT_OF_WORKFLOW = Sql(
    "SELECT tenant FROM jobs WHERE workflow_id = :workflow_id ORDER BY id LIMIT 1"
)

# -- job_lock_named -- the jobs a fair-share claim's messages name, locked in id order under
# -- the queue's lock: their state now, not as read before the lock (another worker's claim
# -- may have taken one as its turn meanwhile).
JOB_LOCK_NAMED = Sql(
    """
    SELECT id, state, attempts FROM jobs
    WHERE id = ANY(CAST(:ids AS bigint[])) ORDER BY id FOR UPDATE
    """
)
