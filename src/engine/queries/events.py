"""Queries on ``job_events``, the audit trail of every transition.

Reads of recent events are bounded by primary key: the newest ``:scan`` rows
(``ORDER BY id DESC LIMIT :scan``, a backward index scan that stops after
``:scan`` rows), filtered by time afterwards. A predicate on ``at`` alone would
not bound the work: an index scan with a filter keeps going until it has found
enough rows, and ``id > max(id) - :scan`` (a parameter the planner cannot see
through) is estimated at a third of the table and scanned sequentially at
millions of rows.
"""

from engine.db.sql import Sql

# -- event_insert_many -- one row per transition of a batch, in one statement.
EVENT_INSERT_MANY = Sql(
    """
    INSERT INTO job_events (job_id, from_state, to_state, attempt, worker_id, reason)
    SELECT * FROM unnest(CAST(:job_ids AS bigint[]), CAST(:from_states AS text[]),
                         CAST(:to_states AS text[]), CAST(:attempts AS int[]),
                         CAST(:worker_ids AS text[]), CAST(:reasons AS text[]))
    """
)

# -- event_list_for_job -- a job's trail, oldest first.
EVENT_LIST_FOR_JOB = Sql(
    """
    SELECT at, from_state, to_state, attempt, worker_id, reason FROM job_events
    WHERE job_id = :id ORDER BY id LIMIT :limit
    """
)

# -- event_throughput_recent -- runs that ended per second since :since, over at most the
# -- newest :scan events; the grand-total row (sec NULL) says how many of those were read
# -- and the oldest, so the caller knows whether the window was cut short.
EVENT_THROUGHPUT_RECENT = Sql(
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
EVENT_LIST_RECENT = Sql(
    """
    SELECT e.id, e.at, e.job_id, j.queue, j.type, e.from_state, e.to_state, e.attempt,
           e.worker_id, e.reason, j.version
    FROM (SELECT * FROM job_events ORDER BY id DESC LIMIT :limit) e
    LEFT JOIN jobs j ON j.id = e.job_id
    ORDER BY e.id DESC
    """
)

# -- event_list_after -- the stream's read: events past :after in id order (at most :limit),
# -- plus those in the id ranges :los[i]..:his[i] (ids the reader saw missing before), with
# -- their job's queue, type and workflow. The ids of this database's transactions still
# -- running come with every row (and alone, on a row of NULLs, when no event matched): one
# -- of them may hold a missing id; once all have ended, a still-missing id never commits.
EVENT_LIST_AFTER = Sql(
    """
    WITH running AS MATERIALIZED (
        SELECT coalesce(array_agg(backend_xid::text::bigint), '{}') AS xids
        FROM pg_stat_activity
        WHERE datname = current_database() AND backend_xid IS NOT NULL
    ),
    picked AS (
        (SELECT * FROM job_events WHERE id > :after ORDER BY id LIMIT :limit)
        UNION ALL
        (SELECT e.* FROM unnest(CAST(:los AS bigint[]), CAST(:his AS bigint[])) AS g(lo, hi)
         JOIN job_events e ON e.id BETWEEN g.lo AND g.hi)
    )
    SELECT running.xids AS running,
           p.id, p.at, p.job_id, p.from_state, p.to_state, p.attempt, p.worker_id, p.reason,
           j.queue, j.type, j.workflow_id, j.tenant
    FROM running
    LEFT JOIN (picked p LEFT JOIN jobs j ON j.id = p.job_id) ON true
    ORDER BY p.id
    """
)

# -- event_list_range -- settled history for a client that resumes: events with
# -- :after < id <= :upto in id order, at most :limit, with their job's queue, type, workflow.
EVENT_LIST_RANGE = Sql(
    """
    SELECT e.id, e.at, e.job_id, e.from_state, e.to_state, e.attempt, e.worker_id, e.reason,
           j.queue, j.type, j.workflow_id, j.tenant
    FROM (SELECT * FROM job_events WHERE id > :after AND id <= :upto ORDER BY id LIMIT :limit) e
    LEFT JOIN jobs j ON j.id = e.job_id
    ORDER BY e.id
    """
)

# -- event_last_id -- the newest visible event id (0 when there is none).
EVENT_LAST_ID = Sql("SELECT coalesce(max(id), 0) FROM job_events")
