"""Job CPU requests and worker capacity: what a job asks for, what a worker offers.

Revision ID: 0008
Revises: 0007 (re-chained onto the last revision when merged)

A job could ask only for memory, checked on its own against one worker's
limit; concurrent jobs on one worker could together ask for more than it has.
Jobs now carry ``cpu`` (cores, fractional), and a worker's row carries its
capacity (``cpus``) and what its running jobs requested (``cpu_requested``,
``memory_requested_mb``), so readers see requested/capacity beside the
measured figures and a worker can name the largest capacity any live worker
offers when a job fits none.

Nullable columns without defaults: catalogue changes only, no table rewrite.
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE jobs ADD COLUMN cpu real CHECK (cpu > 0)")
    op.execute(
        "ALTER TABLE workers ADD COLUMN cpus real, ADD COLUMN cpu_requested real, "
        "ADD COLUMN memory_requested_mb integer"
    )


def downgrade() -> None:
    op.execute(
        "ALTER TABLE workers DROP COLUMN IF EXISTS cpus, DROP COLUMN IF EXISTS cpu_requested, "
        "DROP COLUMN IF EXISTS memory_requested_mb"
    )
    op.execute("ALTER TABLE jobs DROP COLUMN IF EXISTS cpu")
