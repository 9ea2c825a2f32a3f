"""Operations: cron schedules and their fired ticks, indexes for TTL expiry and retention.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23

Design notes:

* ``schedules.next_fire_at`` is the tick a schedule waits for, on the database
  clock. A scheduler locks due rows ``FOR UPDATE SKIP LOCKED`` and moves
  ``next_fire_at`` past ``now()`` in the transaction that submits the job, so
  with several engines each tick fires once; the primary key of
  ``schedule_fires`` (schedule, tick) is the second guard and the history.
* ``job_queued_expiry(queued_at, ttl_s)`` is when a QUEUED job with a TTL
  expires. Adding a number of seconds to a ``timestamptz`` does not depend on
  the session's time zone, so the function is honestly IMMUTABLE and can be
  indexed; ``timestamptz + interval`` itself is only STABLE (for days and
  months). The index holds only queued jobs that have a TTL: small, and a
  claim removes the job from it.
* Retention reads finished jobs by ``finished_at``; that index covers the
  finished states only, and ``finished_at`` changes only together with
  ``state`` (already indexed), so no update that was HOT stops being HOT.
* Retention keeps the jobs of a workflow while any job of it is live; the
  live-jobs-per-workflow index answers that with one probe per workflow.
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

FINISHED = "'completed', 'failed', 'cancelled'"
LIVE = "'pending', 'queued', 'running', 'retrying', 'blocked'"


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE schedules (
            id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            name          text NOT NULL UNIQUE CHECK (name <> ''),
            cron          text NOT NULL,
            tz            text NOT NULL DEFAULT 'UTC',
            type          text NOT NULL CHECK (type <> ''),
            payload       jsonb NOT NULL DEFAULT '{}',
            queue         text NOT NULL DEFAULT 'default',
            priority      smallint NOT NULL DEFAULT 1 CHECK (priority BETWEEN 0 AND 3),
            max_retries   integer NOT NULL DEFAULT 3 CHECK (max_retries >= 0),
            timeout_s     real CHECK (timeout_s > 0),
            ttl_s         real CHECK (ttl_s > 0),
            paused        boolean NOT NULL DEFAULT false,
            next_fire_at  timestamptz NOT NULL,
            last_tick     timestamptz,
            last_job_id   bigint,
            created_at    timestamptz NOT NULL DEFAULT now(),
            updated_at    timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    # Scheduler: schedules whose next tick has come, by the database clock.
    op.execute("CREATE INDEX schedules_due_idx ON schedules (next_fire_at) WHERE NOT paused")
    op.execute(
        """
        CREATE TABLE schedule_fires (
            schedule_id  bigint NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
            tick         timestamptz NOT NULL,
            fired_at     timestamptz NOT NULL DEFAULT now(),
            job_id       bigint,
            missed       integer NOT NULL DEFAULT 0,
            note         text,
            PRIMARY KEY (schedule_id, tick)
        )
        """
    )
    op.execute(
        "COMMENT ON COLUMN schedule_fires.missed IS "
        "'earlier ticks, missed while no engine ran, that this one fire stands for'"
    )
    # Retention: fire history older than the retention age.
    op.execute("CREATE INDEX schedule_fires_fired_at_idx ON schedule_fires (fired_at)")

    op.execute(
        """
        CREATE FUNCTION job_queued_expiry(queued_at timestamptz, ttl_s real)
        RETURNS timestamptz LANGUAGE sql IMMUTABLE PARALLEL SAFE
        RETURN queued_at + make_interval(secs => ttl_s)
        """
    )
    # Expiry service: queued jobs whose TTL ran out, soonest first.
    op.execute(
        "CREATE INDEX jobs_queued_expiry_idx ON jobs (job_queued_expiry(queued_at, ttl_s)) "
        "WHERE state = 'queued' AND ttl_s IS NOT NULL"
    )
    # Retention: finished jobs, oldest first (keyset on finished_at, id).
    op.execute(
        f"CREATE INDEX jobs_finished_at_idx ON jobs (finished_at, id) WHERE state IN ({FINISHED})"
    )
    # Retention: does this workflow still have a live job?
    op.execute(
        "CREATE INDEX jobs_workflow_live_idx ON jobs (workflow_id) "
        f"WHERE workflow_id IS NOT NULL AND state IN ({LIVE})"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS jobs_workflow_live_idx")
    op.execute("DROP INDEX IF EXISTS jobs_finished_at_idx")
    op.execute("DROP INDEX IF EXISTS jobs_queued_expiry_idx")
    op.execute("DROP FUNCTION IF EXISTS job_queued_expiry(timestamptz, real)")
    op.execute("DROP TABLE IF EXISTS schedule_fires")
    op.execute("DROP TABLE IF EXISTS schedules")
