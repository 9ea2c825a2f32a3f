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

# -- workflow_first_job -- any one job of a workflow (the lowest id), to draw its graph from.
WORKFLOW_FIRST_JOB = Sql("SELECT min(id) AS id FROM jobs WHERE workflow_id = :id")
