"""Queries on ``tenants`` and ``tenant_queues``: who shares the installation, on what terms.

A tenant's row holds its limits and weight, and is the lock its limited claims
and submissions take. ``tenant_queues`` is the fair-share ledger of each queue
(see :mod:`engine.store.fair_claim`).
"""

from engine.db.sql import Sql

_LIVE = "('pending', 'queued', 'retrying', 'blocked', 'running')"

# -- tenant_list -- every tenant with its settings and its live jobs per state.
TENANT_LIST = Sql(
    f"""
    SELECT t.name, t.max_waiting, t.max_running, t.weight,
           coalesce(c.waiting, 0) AS waiting, coalesce(c.running, 0) AS running
    FROM tenants t LEFT JOIN LATERAL (
        SELECT count(*) FILTER (WHERE j.state <> 'running') AS waiting,
               count(*) FILTER (WHERE j.state = 'running') AS running
        FROM jobs j WHERE j.tenant = t.name AND j.state IN {_LIVE}
    ) c ON true
    ORDER BY t.name
    """
)

# -- tenant_get -- one tenant's settings.
TENANT_GET = Sql("SELECT name, max_waiting, max_running, weight FROM tenants WHERE name = :name")

# -- tenant_insert -- a new tenant; no row when the name is taken.
TENANT_INSERT = Sql(
    """
    INSERT INTO tenants (name, max_waiting, max_running, weight)
    VALUES (:name, :max_waiting, :max_running, :weight)
    ON CONFLICT (name) DO NOTHING
    RETURNING name, max_waiting, max_running, weight
    """
)

# -- tenant_update -- change a tenant's limits and weight (every value given, old or new).
TENANT_UPDATE = Sql(
    """
    UPDATE tenants SET max_waiting = :max_waiting, max_running = :max_running,
        weight = :weight, updated_at = now()
    WHERE name = :name
    RETURNING name, max_waiting, max_running, weight
    """
)

# -- tenant_lock -- one tenant's row, locked while it is changed or removed.
TENANT_LOCK = Sql(
    "SELECT name, max_waiting, max_running, weight FROM tenants WHERE name = :name FOR UPDATE"
)

# -- tenant_delete -- remove a tenant (after its live jobs were counted as none).
TENANT_DELETE = Sql("DELETE FROM tenants WHERE name = :name")

# -- tenant_queues_delete -- a removed tenant's fair-share ledger.
TENANT_QUEUES_DELETE = Sql("DELETE FROM tenant_queues WHERE tenant = :name")

# -- tenant_live_count -- a tenant's live jobs (a tenant with any cannot be removed).
TENANT_LIVE_COUNT = Sql(f"SELECT count(*) FROM jobs WHERE tenant = :name AND state IN {_LIVE}")

# -- tenant_known_many -- the tenants of a submission that exist, with their waiting limits;
# -- each but 'default' (which cannot be removed) held FOR KEY SHARE until the submission
# -- commits, so a `tenant remove` waits for it and then counts its jobs as live, and a
# -- submit after a remove finds the tenant gone. The lock a foreign key would take, on
# -- named tenants only: every submit sharing the default row's lock would cost them all.
TENANT_KNOWN_MANY = Sql(
    """
    WITH named AS (
        SELECT name, max_waiting FROM tenants
        WHERE name = ANY(CAST(:names AS text[])) AND name <> 'default'
        ORDER BY name FOR KEY SHARE
    )
    SELECT name, max_waiting FROM named
    UNION ALL
    SELECT name, max_waiting FROM tenants
    WHERE name = 'default' AND 'default' = ANY(CAST(:names AS text[]))
    """
)

# -- tenant_waiting_lock -- the limited tenants a submission adds to, locked in name order,
# -- so two submissions to one full tenant take turns and cannot both squeeze past it.
TENANT_WAITING_LOCK = Sql(
    """
    SELECT name, max_waiting FROM tenants
    WHERE name = ANY(CAST(:names AS text[])) AND max_waiting IS NOT NULL
    ORDER BY name FOR NO KEY UPDATE
    """
)

# -- tenant_waiting_many -- live jobs not running, per tenant.
TENANT_WAITING_MANY = Sql(
    """
    SELECT tenant, count(*) AS waiting FROM jobs
    WHERE tenant = ANY(CAST(:names AS text[]))
      AND state IN ('pending', 'queued', 'retrying', 'blocked')
    GROUP BY tenant
    """
)

# -- tenant_queue_join -- make (queue, tenant) pairs known to the fair-share ledger; a new
# -- pair starts at the queue's current virtual time (its least pass), so a tenant that was
# -- idle does not bank the runs it did not take.
TENANT_QUEUE_JOIN = Sql(
    """
    INSERT INTO tenant_queues (queue, tenant, pass)
    SELECT p.queue, p.tenant,
           coalesce((SELECT min(tq.pass) FROM tenant_queues tq WHERE tq.queue = p.queue), 0)
    FROM (SELECT DISTINCT * FROM unnest(CAST(:queues AS text[]), CAST(:tenants AS text[])))
         AS p(queue, tenant)
    WHERE NOT EXISTS (
        SELECT 1 FROM tenant_queues tq WHERE tq.queue = p.queue AND tq.tenant = p.tenant
    )
    ORDER BY p.queue, p.tenant
    ON CONFLICT (queue, tenant) DO NOTHING
    """
)

# -- tenant_queue_ledger -- a shared queue's ledger with each tenant's weight and running
# -- limit; read under the queue's advisory lock, so claims on one queue take turns and each
# -- sees the passes the previous one advanced.
TENANT_QUEUE_LEDGER = Sql(
    """
    SELECT tq.tenant, tq.pass, coalesce(t.weight, 1) AS weight, t.max_running
    FROM tenant_queues tq LEFT JOIN tenants t ON t.name = tq.tenant
    WHERE tq.queue = :queue ORDER BY tq.tenant
    """
)

# -- tenant_queue_advance -- the passes a claim moved, per (queue, tenant).
TENANT_QUEUE_ADVANCE = Sql(
    """
    UPDATE tenant_queues tq SET pass = u.pass
    FROM unnest(CAST(:tenants AS text[]), CAST(:passes AS float8[])) AS u(tenant, pass)
    WHERE tq.queue = :queue AND tq.tenant = u.tenant
    """
)

# -- tenant_running_lock -- the limited tenants of a claim, locked in name order, with the
# -- jobs each runs now; read after the lock (in its own statement), so two claims of one
# -- tenant take turns and the second counts the first one's runs.
TENANT_RUNNING_LOCK = Sql(
    """
    SELECT name, max_running FROM tenants
    WHERE name = ANY(CAST(:names AS text[])) AND max_running IS NOT NULL
    ORDER BY name FOR NO KEY UPDATE
    """
)

# -- tenant_running_many -- jobs running now per tenant.
TENANT_RUNNING_MANY = Sql(
    """
    SELECT tenant, count(*) AS running FROM jobs
    WHERE tenant = ANY(CAST(:names AS text[])) AND state = 'running'
    GROUP BY tenant
    """
)

# -- tenant_room_many -- tenants with a running limit and how many of their jobs run now.
TENANT_ROOM_MANY = Sql(
    """
    SELECT t.name, t.max_running,
           (SELECT count(*) FROM jobs j WHERE j.tenant = t.name AND j.state = 'running')
               AS running
    FROM tenants t WHERE t.max_running IS NOT NULL ORDER BY t.name
    """
)

# -- tenant_load -- every tenant's live jobs (waiting, running) and the jobs it finished in
# -- the last :window_s seconds (done, failed), busiest first. Live counts come from
# -- jobs_tenant_live_idx, finished ones from the recent end of jobs_finished_at_idx.
TENANT_LOAD = Sql(
    """
    WITH live AS (
        SELECT tenant, count(*) FILTER (WHERE state <> 'running') AS waiting,
               count(*) FILTER (WHERE state = 'running') AS running
        FROM jobs WHERE state IN ('pending', 'queued', 'retrying', 'blocked', 'running')
        GROUP BY tenant
    ), finished AS (
        SELECT tenant, count(*) FILTER (WHERE state = 'completed') AS done,
               count(*) FILTER (WHERE state = 'failed') AS failed
        FROM jobs
        WHERE state IN ('completed', 'failed', 'cancelled')
          AND finished_at > now() - make_interval(secs => :window_s)
        GROUP BY tenant
    )
    SELECT t.name, t.max_running, t.weight,
           coalesce(l.waiting, 0) AS waiting, coalesce(l.running, 0) AS running,
           coalesce(f.done, 0) AS done, coalesce(f.failed, 0) AS failed
    FROM tenants t LEFT JOIN live l ON l.tenant = t.name LEFT JOIN finished f ON f.tenant = t.name
    ORDER BY coalesce(l.waiting, 0) + coalesce(l.running, 0) DESC, t.name
    """
)

# -- tenant_queue_prune -- ledger rows of tenants with no live job left on the queue: a
# -- queue whose other tenants went quiet returns to the plain claim, and a tenant that
# -- comes back rejoins at the queue's virtual time (its next submission re-adds the row).
TENANT_QUEUE_PRUNE = Sql(
    """
    DELETE FROM tenant_queues tq
    WHERE NOT EXISTS (
        SELECT 1 FROM jobs j
        WHERE j.tenant = tq.tenant AND j.queue = tq.queue
          AND j.state IN ('pending', 'queued', 'retrying', 'blocked', 'running')
    )
    """
)
