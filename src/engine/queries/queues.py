"""Queries on ``queues`` and on the per-(queue, state) counts."""

from sqlalchemy import text

# -- queue_ensure_many -- make queues known (the console lists them even when empty).
QUEUE_ENSURE_MANY = text(
    """
    INSERT INTO queues (name) SELECT DISTINCT unnest(CAST(:names AS text[]))
    ON CONFLICT (name) DO NOTHING
    """
)

# -- queue_list -- every known queue with its settings.
QUEUE_LIST = text("SELECT name, paused, max_waiting FROM queues ORDER BY name")

# -- count_delta_insert_many -- append-only count changes; never contended ($1 queues,
# -- $2 states, $3 deltas; driver SQL like EVENT_INSERT_MANY).
COUNT_DELTA_INSERT_MANY = """
    INSERT INTO queue_state_deltas (queue, state, delta)
    SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])
"""

# -- count_totals -- exact counts per (queue, state): folded totals plus unfolded deltas.
COUNT_TOTALS = text(
    """
    SELECT queue, state, sum(count)::bigint AS count FROM (
        SELECT queue, state, count FROM queue_state_counts
        UNION ALL
        SELECT queue, state, delta FROM queue_state_deltas
    ) c GROUP BY queue, state
    """
)

# -- count_fold -- move deltas into totals (reconciler); a short transaction.
COUNT_FOLD = text(
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
