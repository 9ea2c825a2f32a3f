"""Failure groups: find a group's FAILED jobs by its key, however many FAILED jobs exist.

Revision ID: 0004
Revises: 0003

Retrying a failure group (``Client.retry_group``) pages through the group's
FAILED jobs in id order, ``WHERE state = 'failed' AND <group key> = :fingerprint
AND id > :after``. ``jobs_failed_idx`` (0003) is ordered by id alone: it could
answer only by reading every FAILED job and filtering, so the cost of a group
would grow with all the failures of every other group. This partial index on
(group key, id) reads exactly the group's entries, a page at a time.

The expression must be spelled exactly as ``engine.queries.jobs.JOB_FAILURE_GROUP_KEY``
(the planner matches indexed expressions by their text); it is written out here
because a migration must not change when the code it came with does.
``tests/engine/test_retry_group.py`` checks with EXPLAIN that the group's page
uses this index.

Like ``jobs_failed_idx``, it costs the hot path nothing: a job enters it only
on the transition to FAILED, which changes ``state`` (already indexed, so never
a HOT update), and it holds the failed jobs only. Its entries are the size of
``jobs_failed_idx``'s, which already carries the fingerprint and error type.
On a large live installation, build it first without blocking writers, and
this migration finds it and does nothing:

    CREATE INDEX CONCURRENTLY jobs_failed_group_idx
        ON jobs ((coalesce(error_fingerprint, error_type, 'unknown')), id)
        WHERE state = 'failed';
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX IF NOT EXISTS jobs_failed_group_idx "
        "ON jobs ((coalesce(error_fingerprint, error_type, 'unknown')), id) "
        "WHERE state = 'failed'"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS jobs_failed_group_idx")
