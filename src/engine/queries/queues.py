"""Queries on ``queues``: the queues known, paused and limited.

The per-(queue, state) counts live in :mod:`engine.queries.counts`.
"""

from engine.db.sql import Sql

# -- queue_ensure_many -- make queues known (the console lists them even when empty).
QUEUE_ENSURE_MANY = Sql(
    """
    INSERT INTO queues (name) SELECT DISTINCT unnest(CAST(:names AS text[]))
    ON CONFLICT (name) DO NOTHING
    """
)

# -- queue_list -- every known queue with its settings.
QUEUE_LIST = Sql("SELECT name, paused, max_waiting FROM queues ORDER BY name")

# -- queue_lock -- one queue's settings, locked while an operator changes them.
QUEUE_LOCK = Sql("SELECT name, paused, max_waiting FROM queues WHERE name = :name FOR UPDATE")

# -- queue_set_paused -- pause or resume a queue; creates the row for a queue never used yet,
# -- so a queue can be paused before its first job arrives.
QUEUE_SET_PAUSED = Sql(
    """
    INSERT INTO queues AS q (name, paused) VALUES (:name, :paused)
    ON CONFLICT (name) DO UPDATE SET paused = EXCLUDED.paused, updated_at = now()
    RETURNING q.name, q.paused, q.max_waiting
    """
)

# -- queue_set_limit -- set or clear (NULL) the most jobs that may wait in a queue.
QUEUE_SET_LIMIT = Sql(
    """
    INSERT INTO queues AS q (name, max_waiting) VALUES (:name, :max_waiting)
    ON CONFLICT (name) DO UPDATE SET max_waiting = EXCLUDED.max_waiting, updated_at = now()
    RETURNING q.name, q.paused, q.max_waiting
    """
)

# -- queue_limits_lock -- the limited queues a submission adds to, locked in name order so
# -- two submissions to one full queue take turns and cannot both squeeze past the limit.
QUEUE_LIMITS_LOCK = Sql(
    """
    SELECT name, max_waiting FROM queues
    WHERE name = ANY(CAST(:names AS text[])) AND max_waiting IS NOT NULL
    ORDER BY name FOR UPDATE
    """
)
