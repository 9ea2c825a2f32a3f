"""Job refs: the name a workflow gave each of its jobs, kept for the DAG view.

Revision ID: 0005
Revises: 0004

A workflow's jobs are named by their submitter (``extract``, ``load``) and wired by
those names, but only ids were stored, so the graph could show nothing but types:
in a workflow of twenty ``etl.step`` jobs every box read the same. The name is kept
as written (NULL for jobs submitted without one).

A nullable column without a default is a catalogue change only: no rewrite of the
table, however many jobs it holds, and no cost for a submit that has no ref.
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE jobs ADD COLUMN ref text")


def downgrade() -> None:
    op.execute("ALTER TABLE jobs DROP COLUMN IF EXISTS ref")
