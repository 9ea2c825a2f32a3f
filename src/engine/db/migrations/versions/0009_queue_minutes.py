"""Queue minutes: per-queue, per-minute history that outlives the console and the jobs.

Revision ID: 0009
Revises: 0008

The console's charts sampled counts in its own memory: five minutes, lost on
restart, so an operator who opened it after an incident saw nothing of it.
``queue_minutes`` keeps, per queue and minute, the jobs that finished in that
minute (completed, failed) and their wait (queued_at -> started_at, p50 and
p95, seconds), plus the depth sampled once in that minute. The rollup service
(:mod:`engine.maintenance.rollup`) fills it from ``jobs_finished_at_idx`` one
closed minute range at a time and prunes rows older than seven days.

Design notes:

* The primary key (minute, queue) is the upsert's conflict target (a minute
  rolled up twice is written twice with the same figures) and the read path's
  range scan (a window is a range of minutes).
* ``queue_minute_rollup`` is one row: the first minute not yet rolled up. A
  rollup locks it ``FOR UPDATE SKIP LOCKED`` for its batch, so with several
  engines one rolls up and the others rest; the row survives restarts, so an
  engine that was down backfills the gap (up to 24 hours) at start.
* No foreign key to ``jobs`` or ``queues``: history stays when retention
  removes the jobs it was made from.
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE queue_minutes (
            minute      timestamptz NOT NULL,
            queue       text NOT NULL,
            completed   bigint NOT NULL DEFAULT 0 CHECK (completed >= 0),
            failed      bigint NOT NULL DEFAULT 0 CHECK (failed >= 0),
            wait_p50_s  real,
            wait_p95_s  real,
            depth       bigint,
            PRIMARY KEY (minute, queue)
        )
        """
    )
    op.execute(
        "COMMENT ON COLUMN queue_minutes.wait_p50_s IS "
        "'median seconds from queued_at to started_at of the jobs that finished in the minute'"
    )
    op.execute(
        """
        CREATE TABLE queue_minute_rollup (
            singleton     boolean PRIMARY KEY DEFAULT true CHECK (singleton),
            rolled_until  timestamptz NOT NULL
        )
        """
    )
    op.execute(
        "COMMENT ON COLUMN queue_minute_rollup.rolled_until IS "
        "'the first minute not yet rolled up into queue_minutes'"
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS queue_minute_rollup")
    op.execute("DROP TABLE IF EXISTS queue_minutes")
