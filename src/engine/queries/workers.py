"""Queries on ``workers``: registration, heartbeats, presumed loss, the workers pane."""

from engine.db.sql import Sql

# -- worker_register -- a worker process announces itself (a restarted id starts afresh).
WORKER_REGISTER = Sql(
    """
    INSERT INTO workers (id, host, pid, queues, state, supervisor_id, max_memory_mb, cpus,
                         cpu_requested, memory_requested_mb)
    VALUES (:id, :host, :pid, :queues, 'starting', :supervisor_id, :max_memory_mb, :cpus, 0, 0)
    ON CONFLICT (id) DO UPDATE SET host = EXCLUDED.host, pid = EXCLUDED.pid,
        queues = EXCLUDED.queues, state = 'starting', supervisor_id = EXCLUDED.supervisor_id,
        max_memory_mb = EXCLUDED.max_memory_mb, cpus = EXCLUDED.cpus, cpu_requested = 0,
        memory_requested_mb = 0, started_at = now(), heartbeat_at = now(),
        stopped_at = NULL, current_job_id = NULL, jobs_done = 0, jobs_failed = 0
    """
)

# -- worker_heartbeat -- liveness by the database clock; returns false once presumed lost.
WORKER_HEARTBEAT = Sql(
    """
    UPDATE workers SET heartbeat_at = now(), state = :state, current_job_id = :current_job_id,
        rss_bytes = :rss_bytes, cpu_percent = :cpu_percent, jobs_done = :jobs_done,
        jobs_failed = :jobs_failed, cpu_requested = :cpu_requested,
        memory_requested_mb = :memory_requested_mb
    WHERE id = :id AND stopped_at IS NULL
    RETURNING id
    """
)

# -- worker_stop -- a worker that exits (or is presumed lost) is never live again.
WORKER_STOP = Sql(
    "UPDATE workers SET stopped_at = now(), state = :state, current_job_id = NULL WHERE id = :id"
)

# -- worker_mark_lost -- live workers whose heartbeat is older than the limit are presumed
# -- lost.
WORKER_MARK_LOST = Sql(
    """
    UPDATE workers SET stopped_at = now(), state = 'lost', current_job_id = NULL
    WHERE stopped_at IS NULL AND heartbeat_at < now() - make_interval(secs => :after_s)
    RETURNING id
    """
)

# -- worker_forget -- stopped workers older than a day leave the workers pane.
WORKER_FORGET = Sql(
    "DELETE FROM workers WHERE stopped_at < now() - make_interval(secs => :after_s)"
)

# -- worker_list_recent -- live workers and those stopped recently, with heartbeat age by
# -- the database clock.
WORKER_LIST_RECENT = Sql(
    """
    SELECT id, host, pid, queues, state, current_job_id, rss_bytes, cpu_percent,
           max_memory_mb, cpus, cpu_requested, memory_requested_mb, jobs_done, jobs_failed,
           started_at, stopped_at,
           extract(epoch FROM now() - heartbeat_at)::float8 AS heartbeat_age_s
    FROM workers
    WHERE stopped_at IS NULL OR stopped_at > now() - make_interval(secs => :stopped_within_s)
    ORDER BY stopped_at IS NOT NULL, host, id
    LIMIT :limit
    """
)

# -- worker_capacity_largest -- the largest capacity any live worker of a queue offers
# -- (cores and MiB, each its own maximum; NULL memory: a worker without a limit), for
# -- the reason of a job that fits no worker.
WORKER_CAPACITY_LARGEST = Sql(
    """
    SELECT max(cpus)::float8 AS cpus, max(max_memory_mb) AS memory_mb,
           bool_or(max_memory_mb IS NULL) AS memory_unlimited, count(*) AS workers
    FROM workers
    WHERE stopped_at IS NULL AND CAST(:queue AS text) = ANY(queues)
    """
)
