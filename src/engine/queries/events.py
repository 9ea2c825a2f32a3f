"""Queries on ``job_events``, the audit trail of every transition."""

from sqlalchemy import text

# -- event_insert_many -- one row per transition of a batch, in one statement ($1 job ids,
# -- $2 from states, $3 to states, $4 attempts, $5 worker ids, $6 reasons). Driver SQL:
# -- runs on SQLAlchemy (``exec_driver_sql``) and raw asyncpg connections alike.
EVENT_INSERT_MANY = """
    INSERT INTO job_events (job_id, from_state, to_state, attempt, worker_id, reason)
    SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::int[], $5::text[],
                         $6::text[])
"""

# -- event_list_for_job -- a job's trail, oldest first.
EVENT_LIST_FOR_JOB = text(
    """
    SELECT at, from_state, to_state, attempt, worker_id, reason FROM job_events
    WHERE job_id = :id ORDER BY id LIMIT :limit
    """
)
