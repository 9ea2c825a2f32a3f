"""Tenants: every job belongs to one; limits, weights and fair-share state per tenant.

Revision ID: 0010
Revises: 0009

Several teams or customers share one installation. ``jobs.tenant`` names the
owner of each job; existing rows become ``default`` (a constant default is a
catalogue change in PostgreSQL 11+, so the column is added without rewriting
the table). ``tenants`` holds each tenant's limits and weight, and the row is
the lock a claim of a limited tenant takes, so ``max_running`` holds across
engines and hosts. ``tenant_queues`` is the fair-share ledger: per queue and
tenant, the virtual time (``pass``) of stride scheduling; a claim on a queue
shared by several tenants serves the tenant with the lowest pass that has a
job waiting and advances it by ``1 / weight``. ``api_tokens.tenant`` binds a
token to one tenant.

No foreign key from ``jobs`` to ``tenants``: a tenant whose jobs all finished
may be removed while its history stays. Submissions check the name instead.
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE tenants (
            name         text PRIMARY KEY,
            max_waiting  integer CHECK (max_waiting IS NULL OR max_waiting > 0),
            max_running  integer CHECK (max_running IS NULL OR max_running > 0),
            weight       double precision NOT NULL DEFAULT 1 CHECK (weight > 0),
            created_at   timestamptz NOT NULL DEFAULT now(),
            updated_at   timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute("INSERT INTO tenants (name) VALUES ('default')")
    op.execute("ALTER TABLE jobs ADD COLUMN tenant text NOT NULL DEFAULT 'default'")
    # Fair share: the best waiting job of one tenant on one queue.
    op.execute(
        "CREATE INDEX jobs_tenant_queued_idx ON jobs (tenant, queue, priority DESC, id) "
        "WHERE state = 'queued'"
    )
    # max-waiting and max-running: a tenant's live jobs per state.
    op.execute(
        "CREATE INDEX jobs_tenant_live_idx ON jobs (tenant, state) "
        "WHERE state IN ('pending', 'queued', 'retrying', 'blocked', 'running')"
    )
    # Jobs listing filtered by tenant (and a tenant-bound token's listing), newest first.
    op.execute("CREATE INDEX jobs_tenant_id_idx ON jobs (tenant, id)")
    op.execute(
        """
        CREATE TABLE tenant_queues (
            queue   text NOT NULL,
            tenant  text NOT NULL,
            pass    double precision NOT NULL DEFAULT 0,
            PRIMARY KEY (queue, tenant)
        )
        """
    )
    op.execute(
        "COMMENT ON COLUMN tenant_queues.pass IS "
        "'stride-scheduling virtual time: runs served on this queue, each 1 / weight'"
    )
    op.execute("ALTER TABLE api_tokens ADD COLUMN tenant text")


def downgrade() -> None:
    op.execute("ALTER TABLE api_tokens DROP COLUMN IF EXISTS tenant")
    op.execute("DROP TABLE IF EXISTS tenant_queues")
    op.execute("DROP INDEX IF EXISTS jobs_tenant_id_idx")
    op.execute("DROP INDEX IF EXISTS jobs_tenant_live_idx")
    op.execute("DROP INDEX IF EXISTS jobs_tenant_queued_idx")
    op.execute("ALTER TABLE jobs DROP COLUMN IF EXISTS tenant")
    op.execute("DROP TABLE IF EXISTS tenants")
