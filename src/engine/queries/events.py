"""Queries on ``job_events``, the audit trail of every transition."""

from sqlalchemy import text

# -- event_insert_many -- one row per transition of a batch, in one statement.
EVENT_INSERT_MANY = text(
    """
    INSERT INTO job_events (job_id, from_state, to_state, attempt, worker_id, reason)
    SELECT * FROM unnest(CAST(:job_ids AS bigint[]), CAST(:from_states AS text[]),
                         CAST(:to_states AS text[]), CAST(:attempts AS int[]),
                         CAST(:worker_ids AS text[]), CAST(:reasons AS text[]))
    """
)

# -- event_list_for_job -- a job's trail, oldest first.
EVENT_LIST_FOR_JOB = text(
    """
    SELECT at, from_state, to_state, attempt, worker_id, reason FROM job_events
    WHERE job_id = :id ORDER BY id LIMIT :limit
    """
)
