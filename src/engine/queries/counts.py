"""Queries on the per-(queue, state) counts: ``queue_state_counts`` (folded totals)
and ``queue_state_deltas`` (append-only changes, folded by the reconciler).

Every transition appends its delta in its own transaction, so the counts are
exact without a scan of ``jobs``; readers add the two tables up.
"""

from engine.db.sql import Sql

# -- count_delta_insert_many -- append-only count changes; never contended.
COUNT_DELTA_INSERT_MANY = Sql(
    """
    INSERT INTO queue_state_deltas (queue, state, delta)
    SELECT * FROM unnest(CAST(:queues AS text[]), CAST(:states AS text[]),
                         CAST(:deltas AS bigint[]))
    """
)

# -- count_totals -- exact counts per (queue, state): folded totals plus unfolded deltas.
# -- (Read as ``jobs``: a row's ``count`` would be the tuple method of the same name.)
COUNT_TOTALS = Sql(
    """
    SELECT queue, state, sum(count)::bigint AS jobs FROM (
        SELECT queue, state, count FROM queue_state_counts
        UNION ALL
        SELECT queue, state, delta FROM queue_state_deltas
    ) c GROUP BY queue, state
    """
)

# -- count_fold -- move deltas into totals (reconciler); a short transaction.
COUNT_FOLD = Sql(
    """
    WITH moved AS (
        DELETE FROM queue_state_deltas WHERE id <= (SELECT max(id) FROM queue_state_deltas)
        RETURNING queue, state, delta
    ), summed AS (
        SELECT queue, state, sum(delta)::bigint AS delta FROM moved GROUP BY queue, state
    )
    INSERT INTO queue_state_counts AS t (queue, state, count)
    SELECT queue, state, delta FROM summed ORDER BY queue, state
    ON CONFLICT (queue, state) DO UPDATE SET count = t.count + EXCLUDED.count
    """
)

# -- count_list -- the folded totals (after COUNT_FOLD in the same transaction).
COUNT_LIST = Sql("SELECT queue, state, count AS jobs FROM queue_state_counts ORDER BY queue, state")

# -- count_waiting -- jobs waiting per queue (the given states), from the count tables:
# -- folded totals plus unfolded deltas, never a scan of jobs.
COUNT_WAITING = Sql(
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

# -- count_source -- which database, and which incarnation of its count tables, the status
# -- cache describes: a TRUNCATE, a restore or another database under the same namespace
# -- changes it, and the cache's contents stop being believed.
COUNT_SOURCE = Sql(
    """
    SELECT (SELECT oid FROM pg_database WHERE datname = current_database())::text || ':'
           || pg_relation_filenode('queue_state_deltas')::text AS source
    """
)
