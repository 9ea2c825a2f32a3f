"""Dead letters: which failures have a copy in the broker's dead-letter queue.

Revision ID: 0007
Revises: 0006

PostgreSQL holds every failure; RabbitMQ's ``NS.dead`` holds a bounded copy of
the recent ones for consumers outside the engine. RabbitMQ cannot say whether
it holds a given job's copy without reading the whole queue, so the engine's
dead-letter sweeper (``engine.maintenance.dead_letters``) reads it and writes
down here what it found:

- ``dead_letters``: one row per FAILED job whose copy the last sweep saw (or
  that an operator purged). ``failed_at`` is the failure the copy records
  (``jobs.finished_at``): a row for an earlier failure of a job that was retried
  and failed again says nothing about the new copy. There is no foreign key on
  purpose: a pruned job's row is how the sweeper knows a copy must go.
- ``dead_letter_sweeps``: one row, a lease, so only one engine (or command) reads
  the queue at a time and each read sees all of it; when the last one ran; and
  when a failure last ended otherwise than by failing again (a retry, a prune),
  so the engines sweep its copy away within seconds.

Neither table is touched on the job path.
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE dead_letters (
            job_id bigint PRIMARY KEY,
            failed_at timestamptz NOT NULL,
            attempt integer,
            in_broker boolean NOT NULL DEFAULT false,
            checked_at timestamptz NOT NULL DEFAULT now(),
            purged_at timestamptz
        )
        """
    )
    op.execute(
        """
        CREATE TABLE dead_letter_sweeps (
            name text PRIMARY KEY,
            holder text,
            lease_until timestamptz NOT NULL DEFAULT now(),
            started_at timestamptz,
            swept_at timestamptz,
            dirty_at timestamptz,
            kept integer NOT NULL DEFAULT 0,
            removed integer NOT NULL DEFAULT 0
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS dead_letter_sweeps")
    op.execute("DROP TABLE IF EXISTS dead_letters")
