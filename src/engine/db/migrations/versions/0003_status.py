"""Status and read API: the one index the dashboard snapshot needs.

Revision ID: 0003
Revises: 0002

EXPLAIN on 1,000,000 jobs showed one dashboard query reading the heap at
random: failure groups, which read the newest FAILED jobs' fingerprints
through ``jobs_state_id_idx`` (10,000 heap fetches, 7,500 pages cold). This
partial covering index answers it from the index alone (an index-only scan
of ``(id) INCLUDE (error_fingerprint, error_type, finished_at)``).

It costs the hot path nothing it did not already pay: a job enters the index
only when it becomes FAILED, a transition that changes ``state`` (an indexed
column) and so is never a HOT update anyway; no column a running job updates
is added to any index. It holds failed jobs only, about 1% of the table.

Migrations run in one transaction each, so the index is built plainly (a
partial index reads the table once: about a second per million jobs, during
which writers wait). On a large live installation, build it first without
blocking anyone, and this migration finds it and does nothing:

    CREATE INDEX CONCURRENTLY jobs_failed_idx ON jobs (id)
        INCLUDE (error_fingerprint, error_type, finished_at) WHERE state = 'failed';
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX IF NOT EXISTS jobs_failed_idx ON jobs (id) "
        "INCLUDE (error_fingerprint, error_type, finished_at) WHERE state = 'failed'"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS jobs_failed_idx")
