"""Queries on ``job_logs``, what handlers logged."""

from engine.db.sql import Sql

# -- log_insert_many -- a batch of handler log lines.
LOG_INSERT_MANY = Sql(
    """
    INSERT INTO job_logs (job_id, attempt, at, level, message)
    SELECT * FROM unnest(CAST(:job_ids AS bigint[]), CAST(:attempts AS int[]),
                         CAST(:ats AS timestamptz[]), CAST(:levels AS text[]),
                         CAST(:messages AS text[]))
    """
)

# -- log_list_for_job -- a job's most recent log lines, oldest first.
LOG_LIST_FOR_JOB = Sql(
    """
    SELECT attempt, at, level, message FROM (
        SELECT id, attempt, at, level, message FROM job_logs
        WHERE job_id = :id ORDER BY id DESC LIMIT :limit
    ) recent ORDER BY id
    """
)

# -- log_list_after -- a job's log lines after a line id, oldest first (paging a follower).
LOG_LIST_AFTER = Sql(
    """
    SELECT id, attempt, at, level, message FROM job_logs
    WHERE job_id = :id AND id > :after ORDER BY id LIMIT :limit
    """
)
