"""Queries on ``queue_minutes`` (per-queue, per-minute history) and its rollup marker.

Every read of ``jobs`` here is a range of ``finished_at`` on the partial index
``jobs_finished_at_idx (finished_at, id) WHERE state IN (finished)``: the query
repeats the index's predicate so the planner may use it, and filters the
states it counts afterwards. Never a scan of the whole table.
"""

from engine.db.sql import Sql

# The per-queue, per-minute figures of jobs that finished in [:start, :end): shared by
# the rollup (which stores them) and the read API's live edge (which shows them).
_FINISHED_MINUTES = """
    SELECT date_trunc('minute', finished_at) AS minute, queue,
        count(*) FILTER (WHERE state = 'completed') AS completed,
        count(*) FILTER (WHERE state = 'failed') AS failed,
        percentile_disc(0.5) WITHIN GROUP (ORDER BY wait_s) AS wait_p50_s,
        percentile_disc(0.95) WITHIN GROUP (ORDER BY wait_s) AS wait_p95_s
    FROM (
        SELECT finished_at, queue, state,
            extract(epoch FROM started_at - queued_at)::real AS wait_s
        FROM jobs
        WHERE state IN ('completed', 'failed', 'cancelled')
          AND finished_at >= CAST(:start AS timestamptz)
          AND finished_at < CAST(:end AS timestamptz)
    ) f
    WHERE state IN ('completed', 'failed')
    GROUP BY 1, 2
"""

# -- queue_minute_finished -- figures of finished jobs per queue and minute (live edge).
QUEUE_MINUTE_FINISHED = Sql(_FINISHED_MINUTES)

# -- queue_minute_rollup_init -- the marker, first time: backfill starts 24 h back.
QUEUE_MINUTE_ROLLUP_INIT = Sql(
    """
    INSERT INTO queue_minute_rollup (rolled_until)
    VALUES (date_trunc('minute', now()) - make_interval(mins => :backfill_min))
    ON CONFLICT DO NOTHING
    """
)

# -- queue_minute_rollup_lock -- the marker, locked for one batch; no row while another
# -- engine holds it. ``closed`` is the last minute boundary every finish has committed by.
QUEUE_MINUTE_ROLLUP_LOCK = Sql(
    """
    SELECT greatest(rolled_until,
                    date_trunc('minute', now()) - make_interval(mins => :backfill_min))
               AS start,
           date_trunc('minute', now() - make_interval(secs => :settle_s)) AS closed,
           now() AS now
    FROM queue_minute_rollup
    FOR UPDATE SKIP LOCKED
    """
)

# -- queue_minute_rollup_store -- roll up [:start, :end); a minute done twice is
# -- written twice with the same figures (the jobs that finished in it do not change).
# -- Returns the (minute, queue) rows written.
QUEUE_MINUTE_ROLLUP_STORE = Sql(
    f"""
    WITH stored AS (
    INSERT INTO queue_minutes AS m (minute, queue, completed, failed, wait_p50_s, wait_p95_s)
    {_FINISHED_MINUTES}
    ON CONFLICT (minute, queue) DO UPDATE SET
        completed = EXCLUDED.completed, failed = EXCLUDED.failed,
        wait_p50_s = EXCLUDED.wait_p50_s, wait_p95_s = EXCLUDED.wait_p95_s
    RETURNING 1
    ) SELECT count(*) FROM stored
    """
)

# -- queue_minute_rollup_advance -- move the marker past the batch just stored.
QUEUE_MINUTE_ROLLUP_ADVANCE = Sql(
    "UPDATE queue_minute_rollup SET rolled_until = CAST(:end AS timestamptz)"
)

# -- queue_minute_rollup_marker -- the first minute not yet rolled up (None: never ran).
QUEUE_MINUTE_ROLLUP_MARKER = Sql("SELECT rolled_until FROM queue_minute_rollup")

# -- queue_minute_depth_sample -- this minute's depth per queue (queued, running,
# -- retrying, pending), from the count tables: folded totals plus unfolded deltas.
QUEUE_MINUTE_DEPTH_SAMPLE = Sql(
    """
    INSERT INTO queue_minutes AS m (minute, queue, depth)
    SELECT date_trunc('minute', now()), queue, greatest(sum(n), 0)::bigint FROM (
        SELECT queue, count AS n FROM queue_state_counts
        WHERE state IN ('queued', 'running', 'retrying', 'pending')
        UNION ALL
        SELECT queue, delta FROM queue_state_deltas
        WHERE state IN ('queued', 'running', 'retrying', 'pending')
    ) c GROUP BY queue
    ON CONFLICT (minute, queue) DO UPDATE SET depth = EXCLUDED.depth
    """
)

# -- queue_minute_prune -- up to :limit rows older than :keep_min minutes.
QUEUE_MINUTE_PRUNE = Sql(
    """
    WITH gone AS (
        DELETE FROM queue_minutes WHERE (minute, queue) IN (
            SELECT minute, queue FROM queue_minutes
            WHERE minute < date_trunc('minute', now()) - make_interval(mins => :keep_min)
            ORDER BY minute LIMIT :limit
        ) RETURNING 1
    ) SELECT count(*) FROM gone
    """
)

# -- queue_minute_buckets -- stored minutes in [:start, :end), summed into buckets of
# -- :bucket_min minutes per queue (all queues, or :queue). Finished-job figures only
# -- from minutes before :rolled (later rows hold only a depth sample). A bucket's p50
# -- is the job-weighted mean of its minutes' medians (with the weight), its p95 their
# -- maximum, its depth the largest sample.
QUEUE_MINUTE_BUCKETS = Sql(
    """
    SELECT CAST(:start AS timestamptz) + make_interval(
               mins => (floor(extract(epoch FROM minute - CAST(:start AS timestamptz))
                              / 60 / CAST(:bucket_min AS int))
                        * CAST(:bucket_min AS int))::int) AS bucket,
        queue,
        coalesce(sum(completed) FILTER (WHERE rolled), 0)::bigint AS completed,
        coalesce(sum(failed) FILTER (WHERE rolled), 0)::bigint AS failed,
        sum(wait_p50_s * (completed + failed)) FILTER (WHERE rolled) AS p50_weighted,
        coalesce(sum(completed + failed)
            FILTER (WHERE rolled AND wait_p50_s IS NOT NULL), 0)::bigint AS p50_weight,
        max(wait_p95_s) FILTER (WHERE rolled) AS wait_p95_s,
        max(depth)::bigint AS depth
    FROM (
        SELECT *, minute < CAST(:rolled AS timestamptz) AS rolled FROM queue_minutes
        WHERE minute >= CAST(:start AS timestamptz) AND minute < CAST(:end AS timestamptz)
          AND (CAST(:queue AS text) IS NULL OR queue = CAST(:queue AS text))
    ) m
    GROUP BY 1, 2
    """
)

# -- queue_minute_now -- the database clock, for windows that end at the current minute.
QUEUE_MINUTE_NOW = Sql("SELECT now() AS now, date_trunc('minute', now()) AS minute")
