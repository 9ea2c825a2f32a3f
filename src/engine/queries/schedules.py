"""Queries on ``schedules`` and their fire history ``schedule_fires``.

Every schedule's time is the database clock's (:data:`engine.queries.jobs.DB_NOW`):
a scheduler locks due rows ``FOR UPDATE SKIP LOCKED`` and claims each tick by
inserting it, so two engines never fire one tick twice.
"""

from engine.db.sql import Sql

SCHEDULE_COLUMNS = """
    s.id, s.name, s.cron, s.tz, s.type, s.payload, s.queue, s.priority, s.max_retries,
    s.timeout_s, s.ttl_s, s.paused, s.next_fire_at, s.last_tick, s.last_job_id, s.created_at
"""

# -- schedule_insert -- a new schedule; nothing when the name is taken.
SCHEDULE_INSERT = Sql(
    f"""
    INSERT INTO schedules AS s (name, cron, tz, type, payload, queue, priority, max_retries,
                                timeout_s, ttl_s, next_fire_at)
    VALUES (:name, :cron, :tz, :type, CAST(:payload AS jsonb), :queue, :priority,
            :max_retries, :timeout_s, :ttl_s, :next_fire_at)
    ON CONFLICT (name) DO NOTHING
    RETURNING {SCHEDULE_COLUMNS}
    """
)

# -- schedule_list -- every schedule by name.
SCHEDULE_LIST = Sql(f"SELECT {SCHEDULE_COLUMNS} FROM schedules s ORDER BY s.name")

# -- schedule_lock -- one schedule by name, locked for an operator's change.
SCHEDULE_LOCK = Sql(f"SELECT {SCHEDULE_COLUMNS} FROM schedules s WHERE s.name = :name FOR UPDATE")

# -- schedule_delete -- remove a schedule (its fire history goes with it).
SCHEDULE_DELETE = Sql("DELETE FROM schedules WHERE name = :name RETURNING id")

# -- schedule_set_paused -- pause, or resume from the next tick after now.
SCHEDULE_SET_PAUSED = Sql(
    f"""
    UPDATE schedules s SET paused = :paused, next_fire_at = :next_fire_at, updated_at = now()
    WHERE s.id = :id
    RETURNING {SCHEDULE_COLUMNS}
    """
)

# -- schedule_due -- schedules whose tick has come, locked; SKIP LOCKED so two engines never
# -- wait on (or fire) the same schedule at once.
SCHEDULE_DUE = Sql(
    f"""
    SELECT {SCHEDULE_COLUMNS}, now() AS db_now FROM schedules s
    WHERE NOT s.paused AND s.next_fire_at <= now()
    ORDER BY s.next_fire_at, s.id LIMIT :limit
    FOR UPDATE SKIP LOCKED
    """
)

# -- schedule_fire_insert -- claim one tick of a schedule; no row back means it already fired.
SCHEDULE_FIRE_INSERT = Sql(
    """
    INSERT INTO schedule_fires (schedule_id, tick, missed) VALUES (:schedule_id, :tick, :missed)
    ON CONFLICT (schedule_id, tick) DO NOTHING
    RETURNING tick
    """
)

# -- schedule_fire_set_outcome -- the job a fire submitted, or why it submitted none.
SCHEDULE_FIRE_SET_OUTCOME = Sql(
    """
    UPDATE schedule_fires SET job_id = :job_id, note = :note
    WHERE schedule_id = :schedule_id AND tick = :tick
    """
)

# -- schedule_advance -- the next tick to wait for, and what the last one did.
SCHEDULE_ADVANCE = Sql(
    """
    UPDATE schedules SET next_fire_at = :next_fire_at, last_tick = :tick,
        last_job_id = coalesce(:job_id, last_job_id), updated_at = now()
    WHERE id = :id
    """
)

# -- schedule_next_due_in -- seconds until the next unpaused schedule is due (NULL: none).
SCHEDULE_NEXT_DUE_IN = Sql(
    """
    SELECT extract(epoch FROM min(next_fire_at) - now())::float8
    FROM schedules WHERE NOT paused
    """
)

# -- schedule_fire_list_recent -- a schedule's latest fires, newest first.
SCHEDULE_FIRE_LIST_RECENT = Sql(
    """
    SELECT tick, fired_at, job_id, missed, note FROM schedule_fires
    WHERE schedule_id = :schedule_id ORDER BY tick DESC LIMIT :limit
    """
)

# -- schedule_fire_prune -- a batch of fire history older than the cutoff.
SCHEDULE_FIRE_PRUNE = Sql(
    """
    WITH old AS (
        SELECT schedule_id, tick FROM schedule_fires WHERE fired_at < :cutoff
        ORDER BY fired_at LIMIT :limit FOR UPDATE SKIP LOCKED
    )
    DELETE FROM schedule_fires f USING old
    WHERE f.schedule_id = old.schedule_id AND f.tick = old.tick
    """
)

# -- schedule_fire_count_old -- fire history older than the cutoff (dry run).
SCHEDULE_FIRE_COUNT_OLD = Sql("SELECT count(*) FROM schedule_fires WHERE fired_at < :cutoff")

# -- schedule_missed_totals -- ticks each schedule missed (while no engine ran), over its
# -- kept fire history: the Schedules pane shows a schedule that keeps missing.
SCHEDULE_MISSED_TOTALS = Sql(
    """
    SELECT s.name, sum(f.missed) AS missed
    FROM schedule_fires f JOIN schedules s ON s.id = f.schedule_id
    GROUP BY s.name HAVING sum(f.missed) > 0
    """
)

# -- schedule_set_last -- a fire out of turn: what it did, the next tick left as it was.
SCHEDULE_SET_LAST = Sql(
    """
    UPDATE schedules SET last_tick = :tick, last_job_id = :job_id, updated_at = now()
    WHERE id = :id
    """
)
