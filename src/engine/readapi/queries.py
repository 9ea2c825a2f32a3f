"""The named queries of the live-status read path (dashboard, reconciler, metrics).

Every query on the refresh path is bounded: it reads small tables (queues,
counts, workers), a partial index of the states it asks for, or a fixed number
of the newest ``job_events`` rows by primary key. None reads the whole of
``jobs``; ``tests/readapi/test_plans.py`` checks that with EXPLAIN on a table
large enough for the planner to be honest.

Bounded windows read the newest ``:scan`` rows of ``job_events`` by primary key
(``ORDER BY id DESC LIMIT :scan``, a backward index scan that stops after
``:scan`` rows) and filter those by time. A predicate on ``at`` alone would
not bound the work: an index scan with a filter keeps going until it has
found enough rows, and ``id > max(id) - :scan`` (a parameter the planner
cannot see through) is estimated at a third of the table and scanned
sequentially at millions of rows.
"""

from sqlalchemy import text

from engine.queries.jobs import JOB_FAILURE_GROUP_KEY

# -- database_source -- which database, and which incarnation of its count tables, the
# -- status cache describes: a TRUNCATE, a restore or another database under the same
# -- namespace changes it, and the cache's contents stop being believed.
DATABASE_SOURCE = text(
    """
    SELECT (SELECT oid FROM pg_database WHERE datname = current_database())::text || ':'
           || pg_relation_filenode('queue_state_deltas')::text AS source
    """
)

# -- count_list -- the folded totals (after COUNT_FOLD in the same transaction).
COUNT_LIST = text("SELECT queue, state, count FROM queue_state_counts ORDER BY queue, state")

# -- job_latency_recent -- wait (queued to started) and run (started to finished) time
# -- percentiles, per type and overall, of the jobs that most recently finished a run.
JOB_LATENCY_RECENT = text(
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

# -- event_throughput_recent -- runs that ended per second since :since, over at most the
# -- newest :scan events; the grand-total row (sec NULL) says how many of those were read
# -- and the oldest, so the caller knows whether the window was cut short.
EVENT_THROUGHPUT_RECENT = text(
    """
    SELECT floor(extract(epoch FROM at))::bigint AS sec,
           count(*) FILTER (WHERE from_state = 'running' AND to_state = 'completed')
               AS completed,
           count(*) FILTER (WHERE from_state = 'running' AND to_state IN ('retrying', 'failed'))
               AS failed,
           count(*) AS n, min(at) AS oldest
    FROM (SELECT at, from_state, to_state FROM job_events ORDER BY id DESC LIMIT :scan) newest
    WHERE at >= :since
    GROUP BY GROUPING SETS ((1), ())
    """
)

# -- event_list_recent -- the newest events with their job's queue and type, newest first.
EVENT_LIST_RECENT = text(
    """
    SELECT e.id, e.at, e.job_id, j.queue, j.type, e.from_state, e.to_state, e.attempt,
           e.worker_id, e.reason, j.version
    FROM (SELECT * FROM job_events ORDER BY id DESC LIMIT :limit) e
    LEFT JOIN jobs j ON j.id = e.job_id
    ORDER BY e.id DESC
    """
)

# -- worker_list_recent -- live workers and those stopped recently, with heartbeat age by
# -- the database clock.
WORKER_LIST_RECENT = text(
    """
    SELECT id, host, pid, queues, state, current_job_id, rss_bytes, cpu_percent,
           max_memory_mb, jobs_done, jobs_failed, started_at, stopped_at,
           extract(epoch FROM now() - heartbeat_at)::float8 AS heartbeat_age_s
    FROM workers
    WHERE stopped_at IS NULL OR stopped_at > now() - make_interval(secs => :stopped_within_s)
    ORDER BY stopped_at IS NOT NULL, host, id
    LIMIT :limit
    """
)

# -- job_failure_groups -- the newest :scan FAILED jobs grouped by JOB_FAILURE_GROUP_KEY (the
# -- error type when a job has no fingerprint), largest groups first, with a sample of each.
JOB_FAILURE_GROUPS = text(
    f"""
    WITH recent AS (
        SELECT id, {JOB_FAILURE_GROUP_KEY} AS fingerprint,
               finished_at
        FROM jobs WHERE state = 'failed'
        ORDER BY id DESC
        LIMIT :scan
    ), groups AS (
        SELECT fingerprint, count(*) AS n, min(finished_at) AS first_seen,
               max(finished_at) AS last_seen, max(id) AS newest,
               (array_agg(id ORDER BY id DESC))[1:CAST(:sample AS int)] AS job_ids,
               sum(count(*)) OVER () AS scanned
        FROM recent GROUP BY fingerprint
        ORDER BY n DESC, newest DESC
        LIMIT :groups
    )
    SELECT g.fingerprint, g.n, g.first_seen, g.last_seen, g.job_ids, g.scanned,
           j.error_type, j.error_message
    FROM groups g JOIN jobs j ON j.id = g.newest
    ORDER BY g.n DESC, g.newest DESC
    """
)

# -- job_state_many_versions -- current state and version of some jobs (status cache
# -- fallback when a job's cached status is missing or untrusted).
JOB_STATE_VERSION_MANY = text(
    """
    SELECT id, state, version, queue, type, attempts, worker_id FROM jobs
    WHERE id = ANY(CAST(:ids AS bigint[]))
    """
)
