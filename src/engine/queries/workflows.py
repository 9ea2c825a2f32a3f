"""Queries on ``workflows``, the named groups of jobs submitted together."""

from engine.db.sql import Sql

# -- workflow_insert -- a new workflow for a submission's jobs.
WORKFLOW_INSERT = Sql("INSERT INTO workflows (name) VALUES (:name) RETURNING id")

# -- workflow_name -- a workflow's name (the DAG view's title).
WORKFLOW_NAME = Sql("SELECT name FROM workflows WHERE id = :id")

# -- workflow_delete_empty -- workflows whose last job was removed (retention).
WORKFLOW_DELETE_EMPTY = Sql(
    """
    DELETE FROM workflows w WHERE w.id = ANY(CAST(:ids AS bigint[]))
      AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.workflow_id = w.id)
    """
)

# -- workflow_latest_live -- the newest workflow that still has a live job (the DAG view's
# -- default): a backward scan of jobs_workflow_live_idx, whose predicate this repeats.
WORKFLOW_LATEST_LIVE = Sql(
    """
    SELECT max(workflow_id) FROM jobs
    WHERE workflow_id IS NOT NULL
      AND state IN ('pending', 'queued', 'running', 'retrying', 'blocked')
    """
)

# -- workflow_latest -- the newest workflow of all, when none has a live job.
WORKFLOW_LATEST = Sql("SELECT max(id) FROM workflows")

# -- workflow_first_job -- a job of a workflow, to draw the workflow from.
WORKFLOW_FIRST_JOB = Sql("SELECT min(id) FROM jobs WHERE workflow_id = :workflow_id")
